"""external_web_search: add web search results to each document, from a search provider speaking Exa's protocol
(`POST /search` with an `x-api-key` header, body {query, numResults, useAutoprompt, startPublishedDate, category,
contents.text}, answer {results: [{url, title, text, publishedDate, author, score}]}), the provider the SDK's
parameters describe.

Served only where the operator configured the endpoint and its key (OPENPEEK_WEB_SEARCH_URL, e.g.
https://api.exa.ai/search, and OPENPEEK_WEB_SEARCH_API_KEY); otherwise a retriever using it is refused at creation,
naming the settings. The endpoint passes the webhook SSRF rules like every outbound call; the key never appears in
responses, warnings or errors. Each distinct rendered query is searched once per execution."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Optional

from pydantic import Field

from openpeek.domain import webhooks as target_rules
from openpeek.domain.errors import BadRequest, DependencyFailed
from openpeek.domain.stages import context as text
from openpeek.domain.stages.candidates import Candidate, synthetic, with_value
from openpeek.domain.failures import DependencyUnavailable
from openpeek.services.stages.base import RunContext, Stage, StageParameters
from openpeek.services.stages.llm_filter import renderer
from openpeek.services.stages.rag_prepare import view_of

SETTINGS = "OPENPEEK_WEB_SEARCH_URL and OPENPEEK_WEB_SEARCH_API_KEY"
CONCURRENT_SEARCHES = 4
MAX_ANSWER_BYTES = 5_000_000


class ExternalWebSearchParameters(StageParameters):
    query: str = Field(default="{{INPUT.query}}", min_length=1, max_length=2000)
    num_results: int = Field(default=10, ge=1, le=100)
    use_autoprompt: bool = True
    start_published_date: Optional[str] = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}")
    category: Optional[str] = None
    include_text: bool = True
    output_field: str = Field(default="web_search", min_length=1)
    timeout: int = Field(default=10, ge=1, le=60)
    on_error: Literal["skip", "remove", "raise"] = "skip"


class ExternalWebSearch(Stage):
    stage_id = "external_web_search"
    category = "apply"
    icon = "search"
    description = ("Searches the web (an Exa-compatible provider) with a query that may use {{INPUT.x}} and "
                   "{{DOC.x}}, and stores {query, results: [{url, title, text, published_date, author, score, "
                   "position}], num_results, autoprompt_used} at output_field of each document (with no documents, "
                   "the results become documents). Each distinct query is searched once. on_error: skip, remove, "
                   "or raise.")
    Parameters = ExternalWebSearchParameters
    cost_tier = "expensive"
    needs = f"a web search provider ({SETTINGS})"

    def unavailable(self) -> str | None:
        if not getattr(self.dependencies, "web_search_url", None) or \
                not getattr(self.dependencies, "web_search_api_key", None):
            return f"no web search provider is configured (set {SETTINGS})"
        return None

    def run(self, context: RunContext, parameters: ExternalWebSearchParameters,
            candidates: list[Candidate]) -> list[Candidate]:
        reason = self.unavailable()
        if reason:
            raise DependencyFailed(f"stage '{context.stage_name}' (external_web_search): {reason}",
                                   code="stage_unavailable", details={"stage": context.stage_name})
        queries = [text.render(parameters.query, renderer(context, view_of(c))) for c in candidates] if candidates \
            else [text.render(parameters.query, renderer(context, None))]
        distinct = list(dict.fromkeys(q.strip() for q in queries))
        with ThreadPoolExecutor(max_workers=max(1, min(CONCURRENT_SEARCHES, len(distinct)))) as pool:
            answers = dict(zip(distinct, pool.map(lambda q: self._search(parameters, q), distinct)))
        failures = [value for ok, value in answers.values() if not ok]
        if failures and parameters.on_error == "raise":
            raise DependencyFailed(f"stage '{context.stage_name}' (external_web_search): {failures[0]}",
                                   code="external_web_search_failed", details={"stage": context.stage_name})
        if failures:
            context.warnings.append(f"external_web_search '{context.stage_name}': {len(failures)} of "
                                    f"{len(distinct)} searches failed ({failures[0]})")
        context.metadata.update({"searches": len(distinct), "failed": len(failures)})
        if not candidates:
            ok, value = answers[distinct[0]]
            return [synthetic(f"web:{hit['url']}", float(hit.get("score") or 0.0), dict(hit))
                    for hit in (value["results"] if ok else [])]
        kept = []
        for candidate, query in zip(candidates, queries):
            ok, value = answers[query.strip()]
            if ok:
                kept.append(with_value(candidate, parameters.output_field, value))
            elif parameters.on_error != "remove":
                kept.append(candidate)
        return kept

    def _search(self, parameters: ExternalWebSearchParameters, query: str) -> tuple[bool, Any]:
        if not query:
            return False, "the rendered query is empty"
        key = str(self.dependencies.web_search_api_key)
        body: dict[str, Any] = {"query": query, "numResults": parameters.num_results,
                                "useAutoprompt": parameters.use_autoprompt}
        if parameters.start_published_date:
            body["startPublishedDate"] = parameters.start_published_date
        if parameters.category:
            body["category"] = parameters.category
        if parameters.include_text:
            body["contents"] = {"text": {"maxCharacters": 2000}}
        try:
            checked = target_rules.check_url(self.dependencies.web_search_url, deployed=self.dependencies.deployed,
                                             resolver=self.dependencies.resolver)
            status, content = self.dependencies.outbound.request(
                checked, "POST", {"x-api-key": key, "Content-Type": "application/json", "Accept": "application/json"},
                body, timeout_s=parameters.timeout, max_bytes=MAX_ANSWER_BYTES)
        except BadRequest as refused:
            return False, "the search endpoint is not an allowed target: " + refused.message.replace(key, "[secret]")
        except DependencyUnavailable as error:
            return False, str(error).replace(key, "[secret]")
        if status >= 400:
            return False, f"the search provider answered HTTP {status}"
        try:
            answer = json.loads(content)
            hits = answer["results"]
            results = [{"url": hit["url"], "title": hit.get("title"),
                        "text": hit.get("text") if parameters.include_text else None,
                        "published_date": hit.get("publishedDate"), "author": hit.get("author"),
                        "score": hit.get("score"), "position": position}
                       for position, hit in enumerate(hits[: parameters.num_results])]
        except (ValueError, KeyError, TypeError, AttributeError):
            return False, "the search provider's answer is not an Exa search result"
        return True, {"query": query, "results": results, "num_results": len(results),
                      "autoprompt_used": parameters.use_autoprompt,
                      "autoprompt_string": answer.get("autopromptString")}


STAGE = ExternalWebSearch
