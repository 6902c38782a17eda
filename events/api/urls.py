from __future__ import annotations

from django.urls import path

from . import views

WEBHOOK = "webhooks/<int:webhook_id>/"

urlpatterns = [
    path("webhooks/", views.WebhookListView.as_view(), name="webhook-list"),
    path(WEBHOOK, views.WebhookDetailView.as_view(), name="webhook-detail"),
    path(
        f"{WEBHOOK}rotate-secret/",
        views.WebhookRotateSecretView.as_view(),
        name="webhook-rotate-secret",
    ),
    path(f"{WEBHOOK}enable/", views.WebhookEnableView.as_view(), name="webhook-enable"),
    path(f"{WEBHOOK}disable/", views.WebhookDisableView.as_view(), name="webhook-disable"),
    path(f"{WEBHOOK}test/", views.WebhookTestView.as_view(), name="webhook-test"),
    path(
        f"{WEBHOOK}deliveries/", views.WebhookDeliveryListView.as_view(), name="webhook-deliveries"
    ),
    path(
        f"{WEBHOOK}deliveries/<int:delivery_id>/",
        views.WebhookDeliveryDetailView.as_view(),
        name="webhook-delivery",
    ),
    path(f"{WEBHOOK}redeliver/", views.WebhookRedeliverView.as_view(), name="webhook-redeliver"),
]
