"""web_scrape: fetch the page a document links to (or one URL) and store its readable text.

Pages are fetched only from hosts the stage's `allowed_domains` names (checked at creation when the URL is literal,
and on every URL at execution), through the webhook SSRF rules (deployed: public https hosts only) to the checked
address, with a size and a time limit, redirects not followed. Text comes from the standard library's HTML parser:
there is no browser, so `strategy: javascript` is refused and `auto` is the static fetch."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Optional
from urllib.parse import urlsplit

from pydantic import Field

from openpeek.domain import filters as filter_rules
from openpeek.domain import webhooks as target_rules
from openpeek.domain.errors import BadRequest, DependencyFailed
from openpeek.domain.stages import context as text
from openpeek.domain.stages.candidates import Candidate, synthetic, value_at
from openpeek.domain.stages.readable import readable
from openpeek.domain.failures import DependencyUnavailable
from openpeek.services.stages.api_call import allowed_host, check_allowed_domains
from openpeek.services.stages import outcomes as outcomes_rules
from openpeek.services.stages.base import RunContext, Stage, StageParameters, invalid
from openpeek.services.stages.llm_filter import renderer

DEFAULT_MAX_BYTES = 2_000_000


class WebScrapeParameters(StageParameters):
    url: Optional[str] = Field(default=None, max_length=2048)
    url_field: Optional[str] = "metadata.url"
    allowed_domains: list[str] = Field(min_length=1, max_length=32)
    output_field: str = Field(default="web_content", min_length=1)
    strategy: Literal["auto", "static", "javascript"] = "auto"
    timeout: int = Field(default=10, ge=1, le=60)
    include_html: bool = False
    min_content_length: int = Field(default=500, ge=100)
    max_response_size: int = Field(default=DEFAULT_MAX_BYTES, ge=1024, le=10_485_760)
    max_text_length: int = Field(default=100_000, ge=100, le=1_000_000)
    when: Optional[dict[str, Any]] = None
    on_error: Literal["skip", "remove", "raise"] = "skip"
    batch_size: int = Field(default=5, ge=1, le=20)


class WebScrape(Stage):
    stage_id = "web_scrape"
    category = "enrich"
    icon = "file-text"
    description = ("Fetches the page at each document's url_field (or the one `url`, which adds a document) and stores "
                   "{url, final_url, title, description, text, content_length, strategy_used} at output_field. Only "
                   "hosts in allowed_domains are fetched, through the webhook SSRF rules, redirects not followed, "
                   "within max_response_size bytes and timeout seconds. Static HTML parsing only (no browser). "
                   "on_error: skip (keep the document), remove, or raise.")
    Parameters = WebScrapeParameters
    cost_tier = "expensive"
    needs = "the pages' hosts named in allowed_domains"

    def check_rules(self, stage_name: str, parameters: WebScrapeParameters) -> None:
        check_allowed_domains(stage_name, self.stage_id, parameters.allowed_domains)
        if parameters.strategy == "javascript":
            raise invalid(stage_name, self.stage_id, "strategy",
                          "no browser is configured for JavaScript rendering: use 'static' or 'auto'")
        if parameters.url and "{{" not in parameters.url:
            parts = urlsplit(parameters.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise invalid(stage_name, self.stage_id, "url", "must be an absolute http(s) URL")
            if not allowed_host(parts.hostname.lower(), parameters.allowed_domains):
                raise invalid(stage_name, self.stage_id, "url", f"host '{parts.hostname}' is not in allowed_domains")
        if not parameters.url and not parameters.url_field:
            raise invalid(stage_name, self.stage_id, "url_field", "either url or url_field is needed")
        filter_rules.parse_filter(parameters.when)

    def run(self, context: RunContext, parameters: WebScrapeParameters,
            candidates: list[Candidate]) -> list[Candidate]:
        if parameters.url:
            url = text.render(parameters.url, renderer(context, None))
            ok, value = self._fetch(parameters, url)
            context.metadata.update({"fetched": 1, "failed": 0 if ok else 1})
            if not ok:
                if parameters.on_error == "raise":
                    raise DependencyFailed(f"stage '{context.stage_name}' (web_scrape): {value}",
                                           code="web_scrape_failed", details={"stage": context.stage_name})
                context.warnings.append(f"web_scrape '{context.stage_name}': {value}")
                return candidates
            return candidates + [synthetic(f"web:{url}", 1.0, {parameters.output_field: value})]
        condition = filter_rules.parse_filter(parameters.when)
        chosen = [i for i, c in enumerate(candidates)
                  if condition is None or filter_rules.matches(condition, c.payload, c.document_id)]
        urls = [value_at(candidates[i], str(parameters.url_field)) for i in chosen]
        with ThreadPoolExecutor(max_workers=max(1, min(parameters.batch_size, len(urls)))) as pool:
            outcomes = list(pool.map(lambda url: self._fetch(parameters, url), urls))
        settled, failed = outcomes_rules.settle(context, "web_scrape", "pages", on_error=parameters.on_error,
                                                output_field=parameters.output_field, candidates=candidates,
                                                chosen=chosen, outcomes=outcomes)
        context.metadata.update({"fetched": len(urls), "failed": failed})
        return settled

    def _fetch(self, parameters: WebScrapeParameters, url: Any) -> tuple[bool, Any]:
        if not isinstance(url, str) or not url:
            return False, f"no URL at '{parameters.url_field}'"
        try:
            host = (urlsplit(url).hostname or "").lower()
            if not allowed_host(host, parameters.allowed_domains):
                return False, f"host '{host}' is not in allowed_domains"
            checked = target_rules.check_url(url, deployed=self.dependencies.deployed,
                                             resolver=self.dependencies.resolver)
            status, content = self.dependencies.outbound.request(
                checked, "GET", {"Accept": "text/html, text/plain;q=0.8"}, None,
                timeout_s=parameters.timeout, max_bytes=parameters.max_response_size)
        except BadRequest as refused:
            return False, refused.message
        except (DependencyUnavailable, ValueError) as error:
            return False, str(error)
        if 300 <= status < 400:
            return False, f"{host} answered HTTP {status} (redirects are not followed)"
        if status >= 400:
            return False, f"{host} answered HTTP {status}"
        html = content.decode("utf-8", "replace")
        page = readable(html)
        body = str(page["text"] or "")
        value: dict[str, Any] = {
            "url": url, "final_url": url, "title": page["title"], "description": page["description"],
            "language": page["language"], "text": body[: parameters.max_text_length],
            "content_length": len(body), "truncated": len(body) > parameters.max_text_length,
            "strategy_used": "static", "below_min_content_length": len(body) < parameters.min_content_length}
        if parameters.include_html:
            value["html"] = html
        return True, value


STAGE = WebScrape
