"""The CDK stacks of one openpeek environment, one concern each (data, vectors, automation, clustering, api)."""
