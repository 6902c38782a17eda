"""Django admin for every registry model and for people and groups; every admin write
lands in the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import FieldDoesNotExist
from django.db import transaction

from . import accounts, permissions
from .audit.record import audit_record
from .models import (
    KPI,
    ApiToken,
    AuditEvent,
    EvaluationDataset,
    ModelFile,
    ModelVersion,
    Objective,
    RegisteredModel,
    ServiceAccount,
    Team,
)

# Form fields whose value never reaches the log: only that they were set.
SECRET_FIELDS = frozenset({"password", "password1", "password2"})


def _shown(obj, name: str):
    """A field's value as the audit log records it: text, or sorted names for relations."""
    if name in SECRET_FIELDS:
        return "(set)"
    field = obj._meta.get_field(name)
    if field.many_to_many:
        return sorted(str(related) for related in getattr(obj, name).all())
    return str(getattr(obj, name))


def _form_field_shown(form, name: str):
    """A changed form field as logged: the model's value, or the form's for a form-only one."""
    try:
        return _shown(form.instance, name)
    except FieldDoesNotExist:
        return str(form.cleaned_data.get(name))


class AuditedAdmin(admin.ModelAdmin):
    """Records each admin save and delete as an audit event in the same transaction.

    The account signals (``registry.accounts``) stay quiet inside these saves, since this
    event already says everything, and attribute what they still record (revoked tokens)
    to the admin.
    """

    def changeform_view(self, request, *args, **kwargs):
        with accounts.acting(request.user):
            return super().changeform_view(request, *args, **kwargs)

    def delete_view(self, request, *args, **kwargs):
        with accounts.acting(request.user):
            return super().delete_view(request, *args, **kwargs)

    def changelist_view(self, request, *args, **kwargs):
        with accounts.acting(request.user):  # bulk actions, e.g. delete selected
            return super().changelist_view(request, *args, **kwargs)

    def save_model(self, request, obj, form, change):
        with accounts.recorded_elsewhere():
            super().save_model(request, obj, form, change)

    def _model_name(self, obj) -> str:
        if isinstance(obj, RegisteredModel):
            return obj.name
        if isinstance(obj, Objective):
            return obj.model.name
        return ""

    def save_related(self, request, form, formsets, change):
        # After the object, its many-to-many fields and its inlines are saved, so the
        # event records what the change actually left behind.
        with accounts.recorded_elsewhere():
            super().save_related(request, form, formsets, change)
        obj = form.instance
        inlines: list[dict[str, Any]] = []
        for formset in formsets:
            inlines += [{"added": str(o)} for o in formset.new_objects]
            inlines += [
                {"changed": str(o), "fields": {name: _shown(o, name) for name in names}}
                for o, names in formset.changed_objects
            ]
            inlines += [{"deleted": str(o)} for o in formset.deleted_objects]
        audit_record(
            actor=request.user,
            action=f"admin.{obj._meta.model_name}.{'changed' if change else 'added'}",
            obj=obj,
            model_name=self._model_name(obj),
            payload={"fields": {name: _form_field_shown(form, name) for name in form.changed_data}}
            | ({"inlines": inlines} if inlines else {}),
        )

    def delete_model(self, request, obj):
        audit_record(
            actor=request.user,
            action=f"admin.{obj._meta.model_name}.deleted",
            obj=obj,
            model_name=self._model_name(obj),
            payload={"repr": str(obj)},
        )
        with accounts.recorded_elsewhere():
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records that only services may write: visible in the admin, never editable there."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class AdminLoginForm(accounts.LockoutMessageMixin, AdminAuthenticationForm):
    """The admin's login form, saying when the account is locked."""


admin.site.login_form = AdminLoginForm
admin.site.unregister(get_user_model())
admin.site.unregister(Group)


@admin.register(get_user_model())
class AuditedUserAdmin(AuditedAdmin, UserAdmin):
    """People: every save (privileges, groups, permissions) and password reset is audited."""

    def user_change_password(self, request, id, form_url=""):
        # The reset, its audit event (user.password_changed, by this admin) and the
        # revocation of the person's tokens commit together or not at all.
        with transaction.atomic(), accounts.acting(request.user):
            return super().user_change_password(request, id, form_url)


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdmin, GroupAdmin):
    """Groups are roles: a rename or a permission change is audited."""


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    list_display = ("slug", "name")
    filter_horizontal = ("members",)


class KPIInline(admin.TabularInline):
    model = KPI
    extra = 0


@admin.register(Objective)
class ObjectiveAdmin(AuditedAdmin):
    list_display = ("title", "model")
    inlines = [KPIInline]


@admin.register(RegisteredModel)
class RegisteredModelAdmin(AuditedAdmin):
    list_display = ("name", "title", "owner_team", "risk_tier", "created_at")
    list_filter = ("risk_tier", "owner_team")
    search_fields = ("name", "title")
    readonly_fields = ("created_by", "created_at")

    def get_readonly_fields(self, request, obj=None):
        # Staff with Django's change permission still need the risk-tier right.
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and not permissions.can_set_risk_tier(request.user, obj):
            fields += ("risk_tier",)
        return fields


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ("model", "version", "status", "submitted_by", "created_at")
    list_filter = ("status", "model")
    search_fields = ("version", "code_commit")


@admin.register(EvaluationDataset)
class EvaluationDatasetAdmin(ReadOnlyAdmin):
    list_display = ("version", "format", "row_count", "sha256")


@admin.register(ModelFile)
class ModelFileAdmin(ReadOnlyAdmin):
    list_display = ("version", "format", "estimator", "sha256")


@admin.register(ServiceAccount)
class ServiceAccountAdmin(ReadOnlyAdmin):
    list_display = ("user", "created_at", "revoked_at")


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    exclude = ("key_sha256",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "seq",
        "created_at",
        "actor_name",
        "action",
        "object_type",
        "object_id",
        "model_name",
    )
    list_filter = ("action",)
    search_fields = ("actor_name", "model_name", "object_id")
    show_full_result_count = False
