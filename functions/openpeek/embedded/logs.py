"""`openpeek serve` writes the same JSON log lines as the Lambdas (Powertools' formatter on the `openpeek` logger, which
every module's logger reports to). WARNING and above by default, as Python's own last-resort handler printed before;
POWERTOOLS_LOG_LEVEL changes it, as it does in a Lambda."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

from openpeek.adapters.emf_metrics import SERVICE_NAME


def structured_logging() -> Logger:
    return Logger(service=SERVICE_NAME, level=os.environ.get("POWERTOOLS_LOG_LEVEL") or "WARNING")
