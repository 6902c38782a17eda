"""Django admin for every registry model; every admin write lands in the audit log."""

from __future__ import annotations

from django.contrib import admin

from . import permissions
from .audit import audit_record
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


def _shown(obj, name: str):
    """A field's value as the audit log records it: text, or sorted names for relations."""
    field = obj._meta.get_field(name)
    if field.many_to_many:
        return sorted(str(related) for related in getattr(obj, name).all())
    return str(getattr(obj, name))


class AuditedAdmin(admin.ModelAdmin):
    """Records each admin save and delete as an audit event in the same transaction."""

    def _model_name(self, obj) -> str:
        if isinstance(obj, RegisteredModel):
            return obj.name
        if isinstance(obj, Objective):
            return obj.model.name
        return ""

    def save_related(self, request, form, formsets, change):
        # After the object, its many-to-many fields and its inlines are saved, so the
        # event records what the change actually left behind.
        super().save_related(request, form, formsets, change)
        obj = form.instance
        inlines = []
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
            payload={"fields": {name: _shown(obj, name) for name in form.changed_data}}
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
