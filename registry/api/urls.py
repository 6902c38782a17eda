from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("auth/token/", views.TokenCreateView.as_view(), name="token-create"),
    path("models/", views.ModelListView.as_view(), name="model-list"),
    path("models/<slug:name>/", views.ModelDetailView.as_view(), name="model-detail"),
    path(
        "models/<slug:name>/objectives/", views.ObjectiveListView.as_view(), name="objective-list"
    ),
    path("models/<slug:name>/versions/", views.VersionListView.as_view(), name="version-list"),
    path(
        "models/<slug:name>/versions/<str:version>/",
        views.VersionDetailView.as_view(),
        name="version-detail",
    ),
]
