"""Create or revoke CI service accounts: ``ci_account create NAME --model M`` / ``revoke NAME``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from registry import services
from registry.errors import DomainError
from registry.models import RegisteredModel, ServiceAccount, Team


class Command(BaseCommand):
    help = "Manage CI service accounts and their scoped API tokens."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create an account and print its token once")
        create.add_argument("name")
        create.add_argument("--model", action="append", default=[], help="Model name (repeatable)")
        create.add_argument("--team", action="append", default=[], help="Team slug (repeatable)")
        create.add_argument("--description", default="")
        revoke = sub.add_parser("revoke", help="Revoke an account and all its tokens")
        revoke.add_argument("name")
        sub.add_parser("list", help="List CI accounts")

    def handle(self, *args, **options) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except DomainError as exc:
            raise CommandError(exc.message) from exc

    def _create(self, options) -> None:
        models = []
        for name in options["model"]:
            model = RegisteredModel.objects.filter(name=name).first()
            if model is None:
                raise CommandError(f"No model named {name!r}.")
            models.append(model)
        teams = []
        for slug in options["team"]:
            team = Team.objects.filter(slug=slug).first()
            if team is None:
                raise CommandError(f"No team {slug!r}.")
            teams.append(team)
        issued = services.ci_account_create(
            actor=None,
            name=options["name"],
            models=models,
            teams=teams,
            description=options["description"],
        )
        self.stderr.write(f"Created CI account {options['name']!r}. Its token (shown once):")
        self.stdout.write(issued.secret)

    def _revoke(self, options) -> None:
        account = ServiceAccount.objects.filter(user__username=options["name"]).first()
        if account is None:
            raise CommandError(f"No CI account named {options['name']!r}.")
        services.ci_account_revoke(actor=None, account=account)
        self.stdout.write(f"Revoked CI account {options['name']!r} and its tokens.")

    def _list(self, options) -> None:
        for account in ServiceAccount.objects.select_related("user").order_by("user__username"):
            state = f"revoked {account.revoked_at:%Y-%m-%d}" if account.revoked_at else "active"
            self.stdout.write(f"{account.user.username}\t{state}")
