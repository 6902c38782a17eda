from __future__ import annotations

from django.urls import path

from . import views
from .bundles.views import version_bundle

version = "models/<slug:name>/versions/<str:version>/"

urlpatterns = [
    path("", views.dashboard, name="home"),
    path("models/<slug:name>/", views.model_detail, name="model-detail"),
    path(version, views.version_detail, name="version-detail"),
    path(version + "request-review/", views.request_review, name="version-request-review"),
    path(version + "sign-off/", views.sign_off, name="version-sign-off"),
    path(version + "promote/", views.promote, name="version-promote"),
    path(version + "rollback/", views.rollback, name="version-rollback"),
    path(version + "explain-row/", views.explain_row, name="version-explain-row"),
]

# The auditor's bundle of a version.
urlpatterns += [path(version + "bundle.zip", version_bundle, name="version-bundle")]
