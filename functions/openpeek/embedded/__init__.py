"""The embedded runtime's entry points: what drives the services in one process where Lambdas, Step Functions and
EventBridge drive them when deployed (handlers/). The cluster orchestrator's thread and the engine process it hosts,
the webhook dispatcher, the maintenance scheduler, and the structured logs of `openpeek serve`. They import services,
so they are not adapters; runtime.py and cli.py start them."""
