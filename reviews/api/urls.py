from __future__ import annotations

from django.urls import path

from ..bundles.views import VersionBundleView
from . import views

VERSION = "models/<slug:name>/versions/<str:version>/"

urlpatterns = [
    path(f"{VERSION}review-request/", views.ReviewRequestView.as_view(), name="review-request"),
    path(f"{VERSION}signoffs/", views.SignOffListView.as_view(), name="signoff-list"),
    path(f"{VERSION}comments/", views.CommentListView.as_view(), name="comment-list"),
    path(f"{VERSION}objections/", views.ObjectionListView.as_view(), name="objection-list"),
    path(
        f"{VERSION}objections/<int:objection_id>/resolve/",
        views.ObjectionResolveView.as_view(),
        name="objection-resolve",
    ),
    path(f"{VERSION}gates/", views.GatesView.as_view(), name="version-gates"),
    path(f"{VERSION}promote/", views.PromoteView.as_view(), name="version-promote"),
    path(f"{VERSION}rollback/", views.RollbackView.as_view(), name="version-rollback"),
    path("models/<slug:name>/timeline/", views.TimelineView.as_view(), name="model-timeline"),
    path(
        "models/<slug:name>/review-policy/",
        views.ReviewPolicyView.as_view(),
        name="review-policy",
    ),
]

# The auditor's bundle of a version.
urlpatterns += [path(f"{VERSION}bundle/", VersionBundleView.as_view(), name="version-bundle")]
