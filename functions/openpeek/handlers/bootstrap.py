"""What every Lambda handler shares: the services, built once per container on first use; structured JSON logs
(Powertools Logger) carrying the invocation's correlation id; X-Ray tracing; CloudWatch metrics in EMF.

A handler is `@entry_point(correlation_id_path=...)` over a function of (event, context) that parses its event, calls
one service and shapes the answer. The stacks set POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE
(`openpeek/<environment>`) on every function (stacks/functions.py).
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from openpeek.adapters.emf_metrics import SERVICE_NAME, metrics_namespace
from openpeek.runtime import LazyServices, build_services
from openpeek.settings import Settings

# Named after the service, so every `openpeek.*` module logger writes through its JSON formatter.
logger = Logger(service=SERVICE_NAME)
tracer = Tracer(service=SERVICE_NAME)
metrics = Metrics(namespace=metrics_namespace(), service=SERVICE_NAME)

Handler = Callable[[dict[str, Any], Any], Any]
_cold_start = True


def container_services() -> LazyServices:
    """The services of this Lambda container, built on the first invocation: an import stays cheap."""
    return LazyServices(lambda: build_services(Settings()))


def entry_point(*, correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
    """Wraps a handler: the invocation's keys and correlation id (a JMESPath into the event) on every log line, a
    tracing segment, the cold-start metric, and the invocation's metrics flushed as one EMF line when it ends."""

    def decorate(handle: Handler) -> Handler:
        traced = tracer.capture_lambda_handler(handle, capture_response=False)

        @functools.wraps(handle)
        def handler(event: dict[str, Any], context: Any) -> Any:
            _start_invocation(event, context, correlation_id_path)
            started = time.perf_counter()
            try:
                answer = traced(event, context)
            except Exception:
                logger.exception("invocation failed")
                raise
            else:
                logger.info("invocation ended", extra={"duration_ms": round((time.perf_counter() - started) * 1000, 1)})
                return answer
            finally:
                if metrics.provider.metric_set:
                    metrics.flush_metrics()

        return handler

    return decorate


def _start_invocation(event: dict[str, Any], context: Any, correlation_id_path: str | None) -> None:
    global _cold_start
    cold_start, _cold_start = _cold_start, False
    logger.clear_state()
    # Lambda always passes a context; a local invocation (tests, `sam local invoke` without one) may pass None.
    logger.append_keys(cold_start=cold_start,
                       function_name=getattr(context, "function_name", None),
                       function_request_id=getattr(context, "aws_request_id", None))
    if correlation_id_path:
        from aws_lambda_powertools.utilities import jmespath_utils

        logger.set_correlation_id(jmespath_utils.query(envelope=correlation_id_path, data=event))
    if cold_start:
        metrics.add_metric(name="ColdStart", unit=MetricUnit.Count, value=1)
