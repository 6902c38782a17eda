"""Django admin for the reviews records: visible to staff, written only by the services.

Policies are read-only too: a change must go through ``policy_update`` so it gets a new
revision (which voids older approvals) and an audit event.
"""

from __future__ import annotations

from django.contrib import admin

from registry.admin import ReadOnlyAdmin

from .models import Comment, Objection, ProductionEvent, ReviewPolicy, ReviewRequest, SignOff


@admin.register(ReviewPolicy)
class ReviewPolicyAdmin(ReadOnlyAdmin):
    list_display = ("model", "revision", "signoff_valid_days", "created_by", "created_at")
    list_filter = ("model",)


@admin.register(ReviewRequest)
class ReviewRequestAdmin(ReadOnlyAdmin):
    list_display = ("version", "requested_by", "policy_revision", "created_at")
    list_filter = ("version__model",)


@admin.register(SignOff)
class SignOffAdmin(ReadOnlyAdmin):
    list_display = ("version", "signer_name", "role", "decision", "signed_at", "policy_revision")
    list_filter = ("decision", "role", "version__model")
    search_fields = ("signer_name", "version__version")


@admin.register(ProductionEvent)
class ProductionEventAdmin(ReadOnlyAdmin):
    list_display = ("model", "version", "action", "replaced", "actor", "at")
    list_filter = ("action", "model")


@admin.register(Objection)
class ObjectionAdmin(ReadOnlyAdmin):
    list_display = ("version", "raised_by", "owner", "state", "created_at", "resolved_at")
    list_filter = ("state", "version__model")


@admin.register(Comment)
class CommentAdmin(ReadOnlyAdmin):
    list_display = ("version", "author_name", "created_at", "reply_to", "objection")
    list_filter = ("version__model",)
    search_fields = ("author_name", "body")
