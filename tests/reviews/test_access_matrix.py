"""Who gets what from every route, web and API: one declared table, walked by one
parametrized test, and a test that fails when a route the URL resolver knows is missing from
the table (a new page or endpoint must say here who may use it).

Rows are keyed by URL name (``namespace:name``), not by view module, so moving a view leaves
the table alone. Each row is a route and method with the answer every kind of caller must
get; the test runs each row once and has every caller use it on the same data, rolling each
call back. People are logged in with a session (as in the browser) and the CI account uses
its bearer token, which server-rendered pages do not read: to them CI is anonymous.

``LOGIN`` is a redirect to the login page with ``next`` set to the route; a plain 302 is any
other redirect (an action done, back to its page). A 409 or 400 for an allowed caller means
access was granted and the domain then refused the request for the state the row sets up
(e.g. promoting a version whose gates fail).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from events import services as events_services
from events.models import Delivery, DeliveryStatus
from explain.models import Report, ReportFile
from registry import services as registry_services
from registry.models import ModelVersion, VersionStatus
from registry.roles import Role
from reviews.models import Objection, SignOff
from tests.builders import PASSWORD, candidate, fair_frame, register

ROLES = (
    "engineer",
    "reviewer",
    "risk_officer",
    "auditor",
    "admin",
    "ci",
    "outsider",  # an ML engineer of another team
    "nobody",  # logged in, no team and no role
    "anonymous",
)
PEOPLE = {"admin": "admin_user"}  # role -> fixture name, where they differ
# The column of each role in ``registry.roles``: a new role fails the test below until the
# table says what it may do.
ROLE_COLUMNS = {
    Role.ML_ENGINEER: "engineer",
    Role.REVIEWER: "reviewer",
    Role.RISK_OFFICER: "risk_officer",
    Role.AUDITOR: "auditor",
    Role.ADMIN: "admin",
}

LOGIN = "login"  # 302 to the login page, ``next`` naming the route

# Routes the matrix leaves out: the admin has its own staff checks, the schema and its docs
# are public by design, static files are not views of ours.
EXCLUDED_PREFIXES = ("admin/", "api/schema/", "api/docs/", "static/")

SMALL = fair_frame(n=60)


def new_version() -> dict[str, Any]:
    return candidate("2.0.0", frame=SMALL, shap=False).multipart()


@dataclass(frozen=True)
class Row:
    """One route and method; ``expect`` lists an answer per role, in the order of ROLES."""

    route: str  # the URL name, ``api:`` for the API
    method: str
    expect: tuple[int | str, ...]
    body: Any = None
    status: str = VersionStatus.REGISTERED  # the version's status before the request

    @property
    def api(self) -> bool:
        return self.route.startswith("api:")

    @property
    def format(self) -> str:
        # The API reads JSON, except where it takes files; pages read form posts.
        if self.api and self.route != "api:version-list":
            return "json"
        return "multipart"

    @property
    def id(self) -> str:
        return f"{self.method} {self.route}"


SIGN = {"decision": "changes_requested", "comment": "more data", "password": PASSWORD}
L = LOGIN
POLICY = {
    "revision": 1,
    "approvals_reviewer": 2,
    "approvals_risk_officer": 1,
    "require_fairness_not_failed": "on",
    "require_blocking_kpis_met": "on",
    "signoff_valid_days": 30,
    "confirmed": "yes",
}

HOOK = {"model": "credit-default", "url": "https://ci.example.com/in", "event_types": ["*"]}
HOOK_FORM = {"url": "https://ci.example.com/in", "event_types": "version.*"}

# fmt: off
ROWS = [
    #                                                    eng  rev  risk aud  adm  ci   out  nob  anon
    # --- API ---------------------------------------------------------------------------------
    Row("api:token-create", "POST",                     (201, 201, 201, 201, 201, 201, 201, 201, 201),
        body={"username": "eng", "password": PASSWORD, "name": "matrix"}),
    Row("api:model-list", "GET",                        (200, 200, 200, 200, 200, 200, 200, 200, 401)),
    Row("api:model-list", "POST",                       (201, 403, 403, 403, 201, 403, 403, 403, 401),
        body={"name": "fraud-score", "title": "Fraud", "owner_team": "credit-risk"}),
    Row("api:model-detail", "GET",                      (200, 200, 200, 200, 200, 200, 404, 404, 401)),
    Row("api:model-detail", "PATCH",                    (200, 403, 403, 403, 200, 403, 404, 404, 401),
        body={"title": "Credit default, renamed"}),
    Row("api:objective-list", "GET",                    (200, 200, 200, 200, 200, 200, 404, 404, 401)),
    Row("api:objective-list", "POST",                   (201, 403, 403, 403, 201, 403, 404, 404, 401),
        body={"title": "Fewer defaults", "kpis": [
            {"name": "Recall", "metric_key": "recall", "comparator": ">=", "target": 0.5}]}),
    Row("api:version-list", "GET",                      (200, 200, 200, 200, 200, 200, 404, 404, 401)),
    Row("api:version-list", "POST",                     (201, 403, 403, 403, 201, 201, 404, 404, 401),
        body=new_version),
    Row("api:version-detail", "GET",                    (200, 200, 200, 200, 200, 200, 404, 404, 401)),
    Row("api:audit-events", "GET",                      (200, 200, 200, 200, 200, 200, 200, 200, 401)),
    Row("api:audit-export", "GET",                      (403, 403, 403, 200, 200, 403, 403, 403, 401)),
    Row("api:audit-head", "GET",                        (403, 403, 403, 200, 200, 403, 403, 403, 401)),
    Row("api:report-list", "GET",                       (200, 200, 200, 200, 200, 200, 404, 404, 401)),
    Row("api:report-list", "POST",                      (200, 200, 200, 403, 200, 403, 404, 404, 401),
        body={"kind": "performance"}),
    Row("api:report-detail", "GET",                     (200, 200, 200, 200, 200, 200, 404, 404, 401)),
    Row("api:review-request", "POST",                   (201, 403, 403, 403, 201, 403, 404, 404, 401),
        body={"note": "please"}),
    Row("api:signoff-list", "GET",                      (200, 200, 200, 200, 200, 200, 404, 404, 401),
        status=VersionStatus.IN_REVIEW),
    Row("api:signoff-list", "POST",                     (403, 201, 201, 403, 403, 403, 404, 404, 401),
        body=SIGN, status=VersionStatus.IN_REVIEW),
    # The review conversation: everyone who sees the model reads it; the team and admins
    # write; auditors and CI read only (403).
    Row("api:comment-list", "GET",                      (200, 200, 200, 200, 200, 200, 404, 404, 401),
        status=VersionStatus.IN_REVIEW),
    Row("api:comment-list", "POST",                     (201, 201, 201, 403, 201, 403, 404, 404, 401),
        body={"body": "Why is occupation_score used?"}, status=VersionStatus.IN_REVIEW),
    Row("api:objection-list", "GET",                    (200, 200, 200, 200, 200, 200, 404, 404, 401),
        status=VersionStatus.IN_REVIEW),
    # The reviewer raised the objection: they, the team's risk officer and admins resolve it.
    Row("api:objection-resolve", "POST",                (403, 200, 200, 403, 200, 403, 404, 404, 401),
        body={"note": "answered"}, status=VersionStatus.IN_REVIEW),
    Row("api:version-gates", "GET",                     (200, 200, 200, 200, 200, 200, 404, 404, 401),
        status=VersionStatus.IN_REVIEW),
    # The reports have not run, so the gates fail: 409 for those who may promote.
    Row("api:version-promote", "POST",                  (403, 403, 409, 403, 409, 403, 404, 404, 401),
        body={"reason": "launch", "replaces": ""}, status=VersionStatus.APPROVED),
    # Never in production, so 409 for those who may roll back.
    Row("api:version-rollback", "POST",                 (403, 403, 409, 403, 409, 403, 404, 404, 401),
        body={"reason": "revert", "replaces": ""}, status=VersionStatus.ARCHIVED),
    Row("api:model-timeline", "GET",                    (200, 200, 200, 200, 200, 200, 404, 404, 401)),
    Row("api:review-policy", "GET",                     (200, 200, 200, 200, 200, 200, 404, 404, 401)),
    Row("api:review-policy", "PATCH",                   (403, 403, 200, 403, 200, 403, 404, 404, 401),
        body={"signoff_valid_days": 30}),
    Row("api:version-bundle", "GET",                    (403, 403, 403, 200, 200, 403, 404, 404, 401)),
    # Webhooks: the owning team's engineers and admins; others who see the model 403, CI
    # accounts 403 (people manage webhooks), outsiders 404. The list shows what you manage.
    Row("api:webhook-list", "GET",                      (200, 200, 200, 200, 200, 403, 200, 200, 401)),
    Row("api:webhook-list", "POST",                     (201, 403, 403, 403, 201, 403, 404, 404, 401),
        body=HOOK),
    Row("api:webhook-detail", "GET",                    (200, 403, 403, 403, 200, 403, 404, 404, 401)),
    Row("api:webhook-detail", "PATCH",                  (200, 403, 403, 403, 200, 403, 404, 404, 401),
        body={"description": "changed"}),
    Row("api:webhook-detail", "DELETE",                 (204, 403, 403, 403, 204, 403, 404, 404, 401)),
    Row("api:webhook-rotate-secret", "POST",            (200, 403, 403, 403, 200, 403, 404, 404, 401)),
    Row("api:webhook-enable", "POST",                   (200, 403, 403, 403, 200, 403, 404, 404, 401)),
    Row("api:webhook-disable", "POST",                  (200, 403, 403, 403, 200, 403, 404, 404, 401)),
    Row("api:webhook-test", "POST",                     (201, 403, 403, 403, 201, 403, 404, 404, 401)),
    Row("api:webhook-deliveries", "GET",                (200, 403, 403, 403, 200, 403, 404, 404, 401)),
    Row("api:webhook-delivery", "GET",                  (200, 403, 403, 403, 200, 403, 404, 404, 401)),
    Row("api:webhook-redeliver", "POST",                (202, 403, 403, 403, 202, 403, 404, 404, 401),
        body={"only_failed": True}),
    # --- pages -------------------------------------------------------------------------------
    Row("login", "GET",                                 (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    Row("login", "POST",                                (302, 302, 302, 302, 302, 302, 302, 302, 302),
        body={"username": "eng", "password": PASSWORD}),
    # A form view answers PUT as it answers POST; PUT carries no form fields, so no login.
    Row("login", "PUT",                                 (200, 200, 200, 200, 200, 200, 200, 200, 200),
        body={"username": "eng", "password": PASSWORD}),
    Row("logout", "POST",                               (302, 302, 302, 302, 302, 302, 302, 302, 302)),
    Row("home", "GET",                                  (200, 200, 200, 200, 200, L,   200, 200, L)),
    Row("model-list", "GET",                            (200, 200, 200, 200, 200, L,   200, 200, L)),
    Row("model-detail", "GET",                          (200, 200, 200, 200, 200, L,   404, 404, L)),
    # The review policy editor: risk officers of the owning team and admins; the POST saves.
    Row("policy-edit", "GET",                           (403, 403, 200, 403, 200, L,   404, 404, L)),
    Row("policy-edit", "POST",                          (403, 403, 302, 403, 302, L,   404, 404, L),
        body=POLICY),
    Row("version-detail", "GET",                        (200, 200, 200, 200, 200, L,   404, 404, L)),
    # A page's action refused for the person's role is the page again, 400, with the refusal
    # as an error on the form (the API says 403).
    Row("version-request-review", "POST",               (302, 400, 400, 400, 302, L,   404, 404, L),
        body={"note": "please"}),
    Row("version-sign-off", "POST",                     (400, 302, 302, 400, 400, L,   404, 404, L),
        body=SIGN, status=VersionStatus.IN_REVIEW),
    # The gates fail (promote) and nothing was ever in production (roll back): 400 for all.
    Row("version-promote", "POST",                      (400, 400, 400, 400, 400, L,   404, 404, L),
        body={"reason": "launch", "replaces": "", "confirmed": "yes"}, status=VersionStatus.APPROVED),
    Row("version-rollback", "POST",                     (400, 400, 400, 400, 400, L,   404, 404, L),
        body={"reason": "revert", "replaces": "", "confirmed": "yes"}, status=VersionStatus.ARCHIVED),
    # The version has no model file, so no row can be explained: 400 for those who may ask
    # (and for the auditor, who may not).
    Row("version-explain-row", "POST",                  (400, 400, 400, 400, 400, L,   404, 404, L),
        body={"row": 0}),
    # The review conversation: the team and admins write, auditors read (403).
    Row("version-comment", "POST",                      (302, 302, 302, 403, 302, L,   404, 404, L),
        body={"body": "Why is occupation_score used?"}),
    # The reviewer raised the objection: they, the team's risk officer and admins resolve it;
    # the engineer it is asked of answers but may not close it.
    Row("version-objection-resolve", "POST",            (403, 302, 302, 403, 302, L,   404, 404, L),
        body={"note": "answered"}, status=VersionStatus.IN_REVIEW),
    Row("version-bundle", "GET",                        (403, 403, 403, 200, 200, L,   404, 404, L)),
    Row("report-status", "GET",                         (200, 200, 200, 200, 200, L,   404, 404, L)),
    Row("report-file", "GET",                           (200, 200, 200, 200, 200, L,   404, 404, L)),
    Row("profile", "GET",                               (200, 200, 200, 200, 200, L,   200, 200, L)),
    Row("token-create", "POST",                         (200, 200, 200, 200, 200, L,   200, 200, L),
        body={"name": "matrix"}),
    # The engineer's own token: everybody else is told it does not exist.
    Row("token-revoke", "POST",                         (302, 404, 404, 404, 404, L,   404, 404, L)),
    Row("profile-email", "POST",                        (302, 302, 302, 302, 302, L,   302, 302, L),
        body={"email": ["review_requested"]}),
    # The inbox: everyone has their own; a notification id is only ever one's own (none of
    # these people has the token's id as a notification: 404 for all).
    Row("inbox", "GET",                                 (200, 200, 200, 200, 200, L,   200, 200, L)),
    Row("inbox-read-all", "POST",                       (302, 302, 302, 302, 302, L,   302, 302, L)),
    Row("inbox-open", "GET",                            (404, 404, 404, 404, 404, L,   404, 404, L)),
    Row("audit-log", "GET",                             (200, 200, 200, 200, 200, L,   200, 200, L)),
    Row("audit-verify", "POST",                         (403, 403, 403, 302, 302, L,   403, 403, L)),
    Row("audit-head", "GET",                            (403, 403, 403, 200, 200, L,   403, 403, L)),
    Row("audit-export-csv", "GET",                      (403, 403, 403, 200, 200, L,   403, 403, L)),
    Row("audit-export-jsonl", "GET",                    (403, 403, 403, 200, 200, L,   403, 403, L)),
    # Webhook pages: the owning team's engineers and admins; others who see the model or team
    # 403, outsiders 404. Creating and rotating answer with the secret's page (200).
    Row("model-webhooks", "GET",                        (200, 403, 403, 403, 200, L,   404, 404, L)),
    Row("model-webhooks", "POST",                       (200, 403, 403, 403, 200, L,   404, 404, L),
        body=HOOK_FORM),
    Row("team-webhooks", "GET",                         (200, 403, 403, 403, 200, L,   404, 404, L)),
    Row("team-webhooks", "POST",                        (200, 403, 403, 403, 200, L,   404, 404, L),
        body=HOOK_FORM),
    Row("webhook-detail", "GET",                        (200, 403, 403, 403, 200, L,   404, 404, L)),
    Row("webhook-edit", "POST",                         (302, 403, 403, 403, 302, L,   404, 404, L),
        body=HOOK_FORM),
    Row("webhook-test", "POST",                         (302, 403, 403, 403, 302, L,   404, 404, L)),
    Row("webhook-redeliver", "POST",                    (302, 403, 403, 403, 302, L,   404, 404, L),
        body={"failed": "on"}),
    Row("webhook-rotate-secret", "POST",                (200, 403, 403, 403, 200, L,   404, 404, L)),
    Row("webhook-enable", "POST",                       (302, 403, 403, 403, 302, L,   404, 404, L)),
    Row("webhook-disable", "POST",                      (302, 403, 403, 403, 302, L,   404, 404, L)),
    Row("webhook-delete", "POST",                       (302, 403, 403, 403, 302, L,   404, 404, L)),
]
# fmt: on


# --- the routes the resolver knows ---------------------------------------------------------


def resolved_routes(resolver=None, prefix: str = "", namespace: str = ""):
    """Every (URL name, path pattern, view) under ``resolver``, namespaces joined with ``:``."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, [namespace, entry.namespace or ""]))
            yield from resolved_routes(entry, pattern, inner)
        elif isinstance(entry, URLPattern):
            name = ":".join(filter(None, [namespace, entry.name or ""]))
            yield name, pattern, entry.callback


def routes_under_test() -> dict[str, tuple[str, Any]]:
    return {
        name: (pattern, view)
        for name, pattern, view in resolved_routes()
        if not pattern.startswith(EXCLUDED_PREFIXES)
    }


def unsafe_methods(view) -> set[str]:
    """The unsafe methods a class-based view implements (function views say nothing)."""
    cls = getattr(view, "cls", None) or getattr(view, "view_class", None)
    if cls is None:
        return set()
    allowed = {m for m in getattr(cls, "http_method_names", ()) if hasattr(cls, m)}
    return {m.upper() for m in allowed} & {"POST", "PUT", "PATCH", "DELETE"}


# --- the data every row works on -----------------------------------------------------------


def client_as(role: str, people: dict[str, Any], ci) -> APIClient:
    client = APIClient()
    if role == "ci":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {ci[2]}")
    elif role != "anonymous":
        client.force_login(people[role])
    return client


def url_of(
    row: Row,
    model,
    version: ModelVersion,
    report: Report,
    token,
    objection: Objection,
    delivery: Delivery,
) -> str:
    """The row's URL for the data at hand, filling in only the arguments its route takes."""
    pattern, _ = routes_under_test()[row.route]
    candidates = {
        "name": model.name,
        "version": version.version,
        "report_id": report.pk,
        "file_name": "plot.svg",
        "pk": token.pk,
        "objection_id": objection.pk,
        "slug": model.owner_team.slug,
        "webhook_id": delivery.subscription_id,
        "delivery_id": delivery.pk,
    }
    kwargs = {key: value for key, value in candidates.items() if f":{key}>" in pattern}
    return reverse(row.route, kwargs=kwargs)


def answer(response, path: str) -> int | str:
    """The status, or ``LOGIN`` for a redirect to the login page that comes back to ``path``."""
    login = f"{reverse('login')}?next="
    if response.status_code == 302 and response["Location"].startswith(login):
        assert response["Location"] == login + quote(path)
        return LOGIN
    return response.status_code


def raised_by(reviewer, version: ModelVersion) -> Objection:
    """An open objection of ``reviewer`` on the version, stored as the sign-off service would."""
    signoff = SignOff.objects.create(
        version=version,
        user=reviewer,
        signer_name=reviewer.username,
        role=Role.REVIEWER,
        decision="changes_requested",
        meaning="I request changes.",
        comment="more data",
        signed_at=version.created_at,
        policy_revision=1,
        subject={},
        subject_sha256="0" * 64,
    )
    return Objection.objects.create(version=version, signoff=signoff, raised_by=reviewer)


def failed_delivery(engineer, model) -> Delivery:
    """A failed delivery of a webhook of the model (the engineer's)."""
    hook = events_services.subscription_create(
        actor=engineer, model=model, url="https://ci.example.com/in", event_types=["*"]
    )
    return Delivery.objects.create(
        subscription=hook,
        event_type="version.registered",
        message_id=f"msg_{hook.pk}_matrix",
        payload={},
        status=DeliveryStatus.FAILED,
    )


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_access(row: Row, request, model, ci, engineer, django_user_model):
    """Every role calls the route on the same data; each call is rolled back after it."""
    people = {
        role: request.getfixturevalue(PEOPLE.get(role, role))
        for role in ROLES
        if role not in ("ci", "nobody", "anonymous")
    }
    people["nobody"] = django_user_model.objects.create_user("nobody", password=PASSWORD)
    version = register(ci[0], model, token=ci[1], frame=SMALL, shap=False, run=False)
    ModelVersion.objects.filter(pk=version.pk).update(status=row.status)
    report = Report.objects.filter(version=version, kind="fairness").get()
    ReportFile.objects.create(
        report=report,
        name="plot.svg",
        file=ContentFile(b"<svg/>", name="plot.svg"),
        content_type="image/svg+xml",
        sha256="0" * 64,
    )
    token = registry_services.token_issue(actor=engineer, user=engineer, name="laptop").token
    objection = raised_by(people["reviewer"], version)
    path = url_of(row, model, version, report, token, objection, failed_delivery(engineer, model))

    got = {}
    for role in ROLES:
        with transaction.atomic():
            client = client_as(role, people, ci)
            body = row.body() if callable(row.body) else row.body
            response = getattr(client, row.method.lower())(path, body, format=row.format)
            got[role] = answer(response, path)
            transaction.set_rollback(True)

    assert got == dict(zip(ROLES, row.expect, strict=True)), path


# --- the table itself ----------------------------------------------------------------------


def test_every_resolved_route_is_in_the_table():
    """A new page or endpoint fails here until its row says who may use it."""
    covered = {row.route for row in ROWS}

    assert sorted(set(routes_under_test()) - covered) == []
    assert sorted(covered - set(routes_under_test())) == []  # no row for a route that went


def test_every_unsafe_method_of_a_class_based_view_has_a_row():
    covered = {(row.route, row.method) for row in ROWS}
    missing = [
        (name, method)
        for name, (_, view) in routes_under_test().items()
        for method in sorted(unsafe_methods(view))
        if (name, method) not in covered
    ]

    assert missing == []


def test_every_role_has_a_column():
    assert set(ROLE_COLUMNS) == set(Role)
    assert set(ROLE_COLUMNS.values()) <= set(ROLES)


def test_every_row_names_an_answer_for_every_role():
    assert all(len(row.expect) == len(ROLES) for row in ROWS)
    assert len({(row.route, row.method) for row in ROWS}) == len(ROWS)


def test_outsiders_never_learn_a_model_exists():
    """Both outsiders get 404 (or the login page, or 401) wherever a route names a model."""
    model_specific = [row for row in ROWS if "<slug:name>" in routes_under_test()[row.route][0]]
    leaks = [
        (row.id, who)
        for row in model_specific
        for who in ("outsider", "nobody")
        if row.expect[ROLES.index(who)] not in (404, LOGIN, 401)
    ]

    assert model_specific
    assert leaks == []
