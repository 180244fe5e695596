"""Publishing a retriever: a public name through which anyone may execute it, without an organisation key, within what
the publication allows (its password, its rate limits, the fields it exposes); and the owner's side of it (publish,
read, update, unpublish, name availability, repair, usage figures).

A publication belongs to its retriever (one each) in the retriever's namespace; its public name is unique across all
organisations (repositories/publications.py). Public executions run through the same RetrievalService as the owner's,
recorded in the namespace's execution history like any other run."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable

from openpeek.domain import publications as rules
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import (BadRequest, Conflict, DependencyFailed, Forbidden, NotFound, TooManyRequests,
                                    Unauthorized)
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.domain.publications import Publication
from openpeek.domain.retrievers import Retriever
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.repositories.optimistic import retry_on_conflict
from openpeek.repositories.publications import AlreadyPublished, PublicationRepository, PublicNameTaken
from openpeek.repositories.retrievers import RetrieverRepository
from openpeek.services.organizations import hash_key
from openpeek.services.retrieval import RetrievalService

logger = logging.getLogger(__name__)

ATTEMPTS = 16
PUBLIC_KEY_PREFIX = "prk_"


def _changed_meanwhile() -> Conflict:
    return Conflict("The publication kept changing while this request was applied; try again",
                    code="concurrent_modification")


def _not_published(retriever_id: str) -> NotFound:
    return NotFound("published retriever", retriever_id, code="retriever_not_published")


def _public_not_found(public_name: str) -> NotFound:
    # One answer for every reason (unknown, inactive, unpublished, its retriever or namespace gone): the public learns
    # nothing about what exists behind a name.
    return NotFound("published retriever", public_name, code="published_retriever_not_found")


@dataclass(frozen=True)
class PublicCaller:
    """What a public request presents: an optional public key and password, and the client address (for per-IP
    limits)."""

    api_key: str | None = None
    password: str | None = None
    client: str = ""


class PublicationService:
    def __init__(self, repository: PublicationRepository, retrievers: RetrieverRepository,
                 namespaces: NamespaceRepository, retrieval: RetrievalService,
                 passwords: Callable[[str, str], str | None], clock: Callable[[], float] = time.time) -> None:
        self._repository = repository
        self._retrievers = retrievers
        self._namespaces = namespaces
        self._retrieval = retrieval
        # (organisation, secret name) → its value: the organisation's own secret in Secrets Manager deployed,
        # OPENPEEK_SECRET_<NAME> embedded (runtime.py)
        self._passwords = passwords
        self.clock = clock
        self._interactions: Any = None  # use_interactions
        self._collections: Callable[[str, str], Any] = lambda namespace_id, identifier: None  # use_collections

    # -- the owner's side -------------------------------------------------------------------------------------------

    def _retriever(self, namespace: Namespace, identifier: str) -> Retriever:
        found = self._retrievers.find(namespace.namespace_id, identifier)
        if found is None:
            raise NotFound("retriever", identifier)
        return found

    def published_ids(self, namespace: Namespace) -> set[str]:
        """The ids of the namespace's retrievers that have a publication (active or not)."""
        return {publication.retriever_id for publication in self._repository.list(namespace.namespace_id)}

    def get(self, namespace: Namespace, identifier: str) -> Publication | None:
        """The retriever's publication; None when it is not published (a normal state, the SDK says)."""
        retriever = self._retriever(namespace, identifier)
        return self._repository.get(namespace.namespace_id, retriever.retriever_id)

    def publish(self, namespace: Namespace, identifier: str, request: dict[str, Any]) -> tuple[Publication, str]:
        """The new publication and its public key (shown this once; only its hash is kept)."""
        retriever = self._retriever(namespace, identifier)
        public_name = self._public_name(request)
        display_config = request.get("display_config") or retriever.display_config
        if not display_config:
            raise BadRequest("publishing needs a display_config (its exposed_fields say what the public sees), and "
                             "the retriever has none stored", code="display_config_required")
        _check_display_config(display_config)
        if request.get("password_secret_name"):
            self._password(namespace.org_id, request["password_secret_name"])
        plain_key = PUBLIC_KEY_PREFIX + secrets.token_urlsafe(32)
        now = isoformat(utcnow())
        publication = Publication(
            public_id=new_id("pub"), retriever_id=retriever.retriever_id, org_id=namespace.org_id,
            namespace_id=namespace.namespace_id, public_name=public_name, display_config=display_config,
            rate_limit_config=rules.resolved_rate_limits(request.get("rate_limit_config")),
            api_key_hash=hash_key(plain_key), created_at=now, updated_at=now,
            display_name=request.get("display_name"), description=request.get("description"),
            icon_base64=request.get("icon_base64"), password_secret_name=request.get("password_secret_name") or None,
            include_metadata=request.get("include_metadata", True),
            retriever_metadata=_metadata(retriever) if request.get("include_metadata", True) else None,
            tags=tuple(request.get("tags") or ()), category=request.get("category"))

        def attempt() -> Publication:
            if self._repository.get(namespace.namespace_id, retriever.retriever_id) is not None:
                raise _already_published(retriever.retriever_id)
            reservation = self._repository.reservation(public_name)
            if reservation is not None and self._repository.holder(reservation) is not None:
                raise _name_taken(public_name)
            count = self._repository.count(namespace.namespace_id)
            if (count or {}).get("count", 0) >= rules.MAX_PUBLISHED_PER_NAMESPACE:
                raise Forbidden(f"this namespace has {rules.MAX_PUBLISHED_PER_NAMESPACE} published retrievers, the "
                                "most allowed; unpublish one first", code="publish_limit_reached",
                                details={"max_allowed": rules.MAX_PUBLISHED_PER_NAMESPACE})
            try:
                self._repository.create(publication, stale_reservation=reservation, count=count)
            except AlreadyPublished:
                raise _already_published(retriever.retriever_id) from None
            except PublicNameTaken:
                raise _name_taken(public_name) from None
            return publication

        return retry_on_conflict(attempt, attempts=ATTEMPTS, gave_up=_changed_meanwhile), plain_key

    def update(self, namespace: Namespace, identifier: str, changes: dict[str, Any]) -> Publication:
        """Absent fields are left alone; `password_secret_name` "" removes the password. Name and key stay."""
        retriever = self._retriever(namespace, identifier)
        updates: dict[str, Any] = {}
        if changes.get("display_config") is not None:
            _check_display_config(changes["display_config"])
            updates["display_config"] = changes["display_config"]
        if changes.get("rate_limit_config") is not None:
            updates["rate_limit_config"] = rules.resolved_rate_limits(changes["rate_limit_config"])
        if changes.get("password_secret_name") is not None:
            if changes["password_secret_name"]:
                self._password(namespace.org_id, changes["password_secret_name"])
            updates["password_secret_name"] = changes["password_secret_name"] or None
        for key in ("is_active", "category"):
            if changes.get(key) is not None:
                updates[key] = changes[key]
        if changes.get("tags") is not None:
            updates["tags"] = tuple(changes["tags"])

        def attempt() -> Publication:
            current = self._repository.get(namespace.namespace_id, retriever.retriever_id)
            if current is None:
                raise _not_published(identifier)
            return self._repository.save(current.with_changes({**updates, "updated_at": isoformat(utcnow())}),
                                         current)

        return retry_on_conflict(attempt, attempts=ATTEMPTS, gave_up=_changed_meanwhile)

    def unpublish(self, namespace: Namespace, identifier: str) -> Publication:
        """The public name is freed and the public key stops working at once."""
        retriever = self._retriever(namespace, identifier)

        def attempt() -> Publication:
            current = self._repository.get(namespace.namespace_id, retriever.retriever_id)
            if current is None:
                raise _not_published(identifier)
            self._repository.delete(current)
            return current

        return retry_on_conflict(attempt, attempts=ATTEMPTS, gave_up=_changed_meanwhile)

    def forget_retriever(self, namespace: Namespace, retriever: Retriever) -> None:
        """The retriever was deleted: its publication goes too. A failure here leaves a publication whose retriever
        is gone: the public gets 404 for it, and the next publisher of the name takes the name over."""
        try:
            self._remove(namespace.namespace_id, retriever.retriever_id)
        except Exception as error:  # the retriever is deleted already; reconcile repairs what is left
            logger.warning("publication of deleted retriever %s not removed: %s", retriever.retriever_id, error)

    def _remove(self, namespace_id: str, retriever_id: str) -> None:
        """Delete the retriever's publication, if it has one, on a fresh read each attempt."""
        def attempt() -> None:
            current = self._repository.get(namespace_id, retriever_id)
            if current is not None:
                self._repository.delete(current)

        retry_on_conflict(attempt, attempts=ATTEMPTS)

    def name_available(self, namespace: Namespace, identifier: str, name: str) -> bool:
        """Free: nobody holds it, or its holder's publication is gone. The retriever's own name counts as taken
        (publishing again needs an unpublish first)."""
        self._retriever(namespace, identifier)
        try:
            rules.check_public_name(name)
        except rules.InvalidPublicName as error:
            raise BadRequest(str(error), code="invalid_public_name", details={"name": name}) from None
        reservation = self._repository.reservation(name)
        return reservation is None or self._repository.holder(reservation) is None

    def listing(self, namespace: Namespace) -> list[tuple[Retriever, Publication | None]]:
        """The namespace's retrievers the public can reach: those published here, and those whose visibility is
        PUBLIC or MARKETPLACE; oldest first."""
        published = {publication.retriever_id: publication
                     for publication in self._repository.list(namespace.namespace_id)}
        found = sorted(self._retrievers.list(namespace.namespace_id), key=lambda r: (r.created_at, r.retriever_id))
        return [(retriever, published.get(retriever.retriever_id)) for retriever in found
                if retriever.retriever_id in published
                or (retriever.visibility or "").lower() in ("public", "marketplace")]

    def stats(self, namespace: Namespace) -> dict[str, Any]:
        """The publish quota, and each publication's public use: requests the rate limits admitted, executions that
        completed, requests the limits refused."""
        publications = self._repository.list(namespace.namespace_id)
        per_publication = []
        for publication in sorted(publications, key=lambda p: (p.created_at, p.public_id)):
            usage = self._repository.usage(publication)
            per_publication.append({
                "retriever_id": publication.retriever_id, "public_name": publication.public_name,
                "is_active": publication.is_active, "requests": usage.get("requests", 0),
                "executions": usage["executions"], "rate_limited": usage["rate_limited"],
                "last_execution_at": usage["last_execution_at"]})
        current = len(publications)
        return {"current_count": current, "max_allowed": rules.MAX_PUBLISHED_PER_NAMESPACE,
                "remaining": max(0, rules.MAX_PUBLISHED_PER_NAMESPACE - current),
                "at_limit": current >= rules.MAX_PUBLISHED_PER_NAMESPACE,
                "public_executions": sum(entry["executions"] for entry in per_publication),
                "public_requests_rate_limited": sum(entry["rate_limited"] for entry in per_publication),
                "publications": per_publication}

    def reconcile(self, namespace: Namespace, identifier: str, *, dry_run: bool) -> dict[str, Any]:
        """Bring the publication, its name reservation and the namespace's publish count back into agreement.

        States: `not_published` (nothing to do), `consistent`, `missing_reservation` (the public name does not lead
        to the publication: the reservation is written again), `name_conflict` (another live publication holds the
        name: this one is deactivated), `retriever_deleted` (the publication outlived its retriever: it is removed).
        The namespace's publish count is recounted either way. `dry_run` reports without changing anything."""
        retriever = self._retrievers.find(namespace.namespace_id, identifier)
        retriever_id = retriever.retriever_id if retriever is not None else identifier
        publication = self._repository.get(namespace.namespace_id, retriever_id)
        if retriever is None and publication is None:
            raise NotFound("retriever", identifier)
        actions: list[str] = []
        if publication is None:
            state = "not_published"
        elif retriever is None:
            state = "retriever_deleted"
            actions.append("removed the publication and freed its public name")
            if not dry_run:
                self._remove(namespace.namespace_id, retriever_id)
        else:
            reservation = self._repository.reservation(publication.public_name)
            if reservation is not None and reservation["public_id"] == publication.public_id:
                state = "consistent"
            elif reservation is not None and self._repository.holder(reservation) is not None:
                state = "name_conflict"
                if publication.is_active:
                    actions.append("deactivated the publication: its public name leads to another one")
                    if not dry_run:
                        self._repository.save(publication.with_changes({"is_active": False,
                                                                        "updated_at": isoformat(utcnow())}),
                                              publication)
            else:
                state = "missing_reservation"
                actions.append(f"reserved the public name '{publication.public_name}' for the publication again")
                if not dry_run:
                    self._repository.restore_reservation(publication, reservation)
        count = self._repository.count(namespace.namespace_id)
        actual = len(self._repository.list(namespace.namespace_id))
        if state == "retriever_deleted" and dry_run:
            actual -= 1
        if (count or {}).get("count", 0) != actual:
            actions.append(f"recounted the namespace's publications ({(count or {}).get('count', 0)} → {actual})")
            if not dry_run:
                self._repository.set_count(namespace.namespace_id, actual, count)
        return {"retriever_id": retriever_id, "state": state, "dry_run": dry_run, "actions": actions,
                "public_name": publication.public_name if publication else None, "repaired": bool(actions)
                and not dry_run}

    # -- the public side --------------------------------------------------------------------------------------------

    def execute_public(self, public_name: str, request: dict[str, Any], caller: PublicCaller) -> dict[str, Any]:
        """Run the published retriever for an anonymous caller: 404 unless published and active; 429 past its rate
        limits; 401 without its password (or its public key) when it has one, or with a wrong public key; then the
        retriever's own execution, at most `max_results_per_query` documents, each showing only the exposed fields."""
        publication, namespace, retriever = self._published(public_name)
        self._admit(publication, caller.client)
        self._authenticate(publication, caller)
        limit = int(publication.rate_limit_config.get("max_results_per_query") or 100)
        execution = _capped(request, limit)
        result = self._retrieval.execute(namespace, retriever, execution)
        self._count_execution(publication)
        exposed = publication.exposed_fields
        return {"execution_id": result["execution_id"], "public_name": publication.public_name,
                "status": result["status"],
                "documents": [rules.exposed_view(document, exposed) for document in result["documents"]],
                "pagination": result["pagination"]}  # warnings name internals (collections, tiers): the owner's

    # -- the public page: catalogue, config, template, password check, feedback ------------------------------------

    def use_interactions(self, interactions: Any) -> None:
        """The InteractionService that records the public's feedback on a publication's results."""
        self._interactions = interactions

    def use_collections(self, find: Callable[[str, str], Any]) -> None:
        """(namespace id, collection identifier) → the Collection or None: a template shows its collections'
        feature extractors."""
        self._collections = find

    def catalogue(self, search: str | None) -> list[Publication]:
        """Every organisation's active publications whose public name leads to them, oldest first; `search`: the
        text, case-folded, in the title or description (a plain substring: no pattern from the public is compiled)."""
        wanted = search.casefold() if search else None
        listed = []
        for publication in self._repository.catalogue():
            if not publication.is_active:
                continue
            if wanted is not None and not any(wanted in (text or "").casefold() for text in (
                    publication.display_config.get("title"), publication.display_config.get("description"),
                    publication.description)):
                continue
            reservation = self._repository.reservation(publication.public_name)
            if reservation is None or reservation["public_id"] != publication.public_id:
                continue  # the name leads elsewhere (or nowhere): the publication is not reachable by it
            listed.append(publication)
        return listed

    def public_config(self, public_name: str) -> Publication:
        """What the public page renders: open to anyone who knows the name, password protected or not."""
        return self._published(public_name)[0]

    def public_template(self, public_name: str, caller: PublicCaller) -> dict[str, Any]:
        """The retriever's definition for the public to adapt (the SDK's PublicRetrieverTemplateResponse, less its
        URL): only when its owner published its metadata (include_metadata); a password-protected one needs its
        password or public key; within its rate limits. Credentials and endpoints in stage parameters are withheld
        (rules.template_stages)."""
        publication, _, retriever = self._published(public_name)
        self._admit(publication, caller.client)
        self._authenticate(publication, caller)
        if not publication.include_metadata:
            raise Forbidden("The owner of this published retriever did not share its configuration",
                            code="template_not_shared")
        return {"retriever_name": retriever.retriever_name, "description": retriever.description,
                "collection_identifiers": list(retriever.collection_identifiers),
                "stages": rules.template_stages(list(retriever.stages)), "input_schema": retriever.input_schema,
                "budget_limits": retriever.budget_limits or {}, "tags": list(retriever.tags) or None,
                "display_config": publication.display_config, "source_public_name": publication.public_name,
                "feature_extractors": self._feature_extractors(retriever) or None}

    def _feature_extractors(self, retriever: Retriever) -> list[dict[str, Any]]:
        """Each collection's extractor as a template shows it: name, version, input mappings and parameters (withheld
        as stage parameters are), with the collection named as the retriever names it (not by its internal id)."""
        shown = []
        for identifier in retriever.collection_identifiers:
            collection = self._collections(retriever.namespace_id, identifier)
            if collection is None:
                continue
            extractor = collection.feature_extractor
            shown.append({"feature_extractor_name": extractor.feature_extractor_name, "version": extractor.version,
                          "params": rules.withheld(dict(extractor.parameters)),
                          "input_mappings": dict(extractor.input_mappings), "collection_identifier": identifier,
                          "collection_name": collection.collection_name})
        return shown

    def verify(self, public_name: str, caller: PublicCaller) -> bool:
        """Whether the password (or the public key) would open the publication, without executing it; within its
        rate limits, so passwords cannot be tried faster than searches."""
        publication = self._published(public_name)[0]
        self._admit(publication, caller.client)
        return self._refusal(publication, caller) is None

    def track_public(self, public_name: str, interactions: list[dict[str, Any]], caller: PublicCaller
                     ) -> list[dict[str, Any]]:
        """The public's feedback on a publication's results: within its rate limits; no password needed (Mixpeek's
        rule: tracking works without it), but each interaction must name an execution of this retriever and a
        document of its namespace (404 otherwise), which a caller has only after a search. A public key that is
        sent must be the publication's."""
        publication, namespace, _ = self._published(public_name)
        self._admit(publication, caller.client)
        if caller.api_key and not hmac.compare_digest(hash_key(caller.api_key), publication.api_key_hash):
            raise Unauthorized("This public API key is not the published retriever's", code="invalid_public_api_key")
        recorded = self._interactions.record_for_retriever(namespace, publication.retriever_id, interactions)
        return [{"interaction_id": entry["interaction_id"], "deduplicated": entry["deduplicated"]}
                for entry in recorded]

    def _published(self, public_name: str) -> tuple[Publication, Namespace, Retriever]:
        try:
            rules.check_public_name(public_name)
        except rules.InvalidPublicName:
            raise _public_not_found(public_name) from None
        reservation = self._repository.reservation(public_name)
        publication = self._repository.holder(reservation) if reservation is not None else None
        if publication is None or not publication.is_active:
            raise _public_not_found(public_name)
        namespace = self._namespaces.get(publication.org_id, publication.namespace_id)
        retriever = self._retrievers.get(publication.namespace_id, publication.retriever_id)
        if namespace is None or retriever is None:
            raise _public_not_found(public_name)
        return publication, namespace, retriever

    def _authenticate(self, publication: Publication, caller: PublicCaller) -> None:
        refused = self._refusal(publication, caller)
        if refused is not None:
            raise refused

    def _refusal(self, publication: Publication, caller: PublicCaller) -> Unauthorized | None:
        """Why the caller's credentials do not open the publication, or None when they do (or none are needed)."""
        key_ok = False
        if caller.api_key:
            key_ok = hmac.compare_digest(hash_key(caller.api_key), publication.api_key_hash)
            if not key_ok:
                return Unauthorized("This public API key is not the published retriever's", code="invalid_public_api_key")
        if publication.password_protected and not key_ok:
            if not caller.password:
                return Unauthorized("This published retriever is password protected: send X-Retriever-Password",
                                    code="password_required")
            expected = self._passwords(publication.org_id, publication.password_secret_name or "")
            if not expected:  # the secret was removed after publishing; its name is not the public's to learn
                raise DependencyFailed("This published retriever's password cannot be read; its owner must set it "
                                       "again", code="password_unavailable")
            if not hmac.compare_digest(hash_key(caller.password), hash_key(expected)):
                return Unauthorized("Wrong password for this published retriever", code="invalid_password")
        return None

    def _admit(self, publication: Publication, client: str) -> None:
        limits = rules.window_limits(publication.rate_limit_config)
        now = self.clock()
        windows = [(name, rules.window_start(now, length), length, "") for name, length in rules.WINDOWS
                   if name in limits]
        if rules.IP_WINDOW[0] in limits:
            name, length = rules.IP_WINDOW
            windows.append((name, rules.window_start(now, length), length, hash_key(client)[:32]))

        def attempt() -> None:
            read = self._repository.window_counts(publication, windows)
            for name, start, length, _ in windows:
                if (read[name] or {}).get("count", 0) >= limits[name]:
                    retry_on_conflict(lambda: self._repository.record_refusal(publication), attempts=ATTEMPTS)
                    raise TooManyRequests(
                        f"Rate limit reached: {limits[name]} requests per {name.replace('ip_', 'client ')}",
                        code="rate_limit_exceeded", details={"window": name, "limit": limits[name],
                                                             "retry_after_seconds": max(1, start + length - int(now))})
            self._repository.admit(publication, windows, read, isoformat(utcnow()))

        retry_on_conflict(attempt, attempts=ATTEMPTS * 4, gave_up=_changed_meanwhile,
                          backoff=lambda n: time.sleep(0.001 * secrets.randbelow(4 * n + 1)))

    def _count_execution(self, publication: Publication) -> None:
        try:
            retry_on_conflict(lambda: self._repository.record_execution(publication), attempts=ATTEMPTS)
        except Exception as error:  # the execution happened and is answered; only its count is short by one
            logger.warning("public execution of %s not counted: %s", publication.public_name, error)

    def _password(self, org_id: str, secret_name: str) -> str:
        value = self._passwords(org_id, secret_name)
        if not value:
            raise BadRequest(f"no secret named '{secret_name}' is stored (the password is read from it)",
                             code="secret_not_found", details={"password_secret_name": secret_name})
        return value

    @staticmethod
    def _public_name(request: dict[str, Any]) -> str:
        if request.get("public_name"):
            name = request["public_name"]
        elif request.get("display_name"):
            name = rules.slug_of(request["display_name"])
        else:
            raise BadRequest("publishing needs a public_name or a display_name to make one from",
                             code="public_name_required")
        try:
            return rules.check_public_name(name)
        except rules.InvalidPublicName as error:
            raise BadRequest(str(error), code="invalid_public_name", details={"public_name": name}) from None


def _already_published(retriever_id: str) -> Conflict:
    return Conflict(f"Retriever '{retriever_id}' is published already; update or unpublish it",
                    code="retriever_already_published", details={"retriever_id": retriever_id})


def _name_taken(name: str) -> Conflict:
    return Conflict(f"The public name '{name}' is taken", code="public_name_taken", details={"public_name": name})


def _check_display_config(config: dict[str, Any]) -> None:
    """What the SDK's DisplayConfig requires (a stored retriever's display_config was never checked against it)."""
    exposed, inputs = config.get("exposed_fields"), config.get("inputs")
    if (not isinstance(config.get("title"), str) or not isinstance(inputs, list)
            or not isinstance(exposed, list) or not exposed or not all(isinstance(f, str) and f for f in exposed)
            or not all(isinstance(entry, dict) and isinstance(entry.get("field_name"), str)
                       and isinstance(entry.get("label"), str) and isinstance(entry.get("field_schema"), dict)
                       and isinstance(entry["field_schema"].get("type"), str) for entry in inputs)):
        raise BadRequest("display_config needs a title, inputs (each with field_name, label and field_schema.type) "
                         "and exposed_fields (at least one field name)", code="invalid_display_config")


def _metadata(retriever: Retriever) -> dict[str, Any]:
    """The SDK's RetrieverMetadata: which stages run, which collections they read, which inputs it takes."""
    return {"stages": [{"stage_name": stage["stage_name"], "stage_id": stage["config"]["stage_id"]}
                       for stage in retriever.stages],
            "collections": [{"collection_identifier": identifier} for identifier in retriever.collection_identifiers],
            "capabilities": {"inputs": sorted(retriever.input_schema)}}


def _capped(request: dict[str, Any], most: int) -> dict[str, Any]:
    """The execution request with every page size at most `most` (offset or cursor pagination, or `limit`)."""
    execution = {key: value for key, value in request.items() if value is not None}
    size = execution.get("limit") or execution.pop("page_size", None)
    execution["limit"] = min(size or most, most)
    pagination = dict(execution.get("pagination") or {})
    for key in ("page_size", "limit"):
        if isinstance(pagination.get(key), int) and not isinstance(pagination[key], bool):
            pagination[key] = min(pagination[key], most)
    if pagination:
        execution["pagination"] = pagination
    return execution
