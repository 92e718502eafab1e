from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.html import format_html

from blockster.proxy import client_ip

from .models import SecurityEvent, User
from .services import is_barred_for_undone_shares, lift_undone_shares_bar


class UndoneSharesBarFilter(admin.SimpleListFilter):
    """Readers refused new campaigns for taking back paid retweets."""

    title = "barred for undone retweets"
    parameter_name = "undone_bar"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[User]
    ) -> QuerySet[User]:
        if self.value() not in ("yes", "no"):
            return queryset
        # The rule of accounts.services.is_barred_for_undone_shares, in SQL.
        limit = settings.X_UNDONE_SHARES_LIMIT
        barred = Q(undone_shares__gte=F("undone_shares_forgiven") + limit)
        if limit <= 0:
            barred = Q(pk__in=[])
        if self.value() == "yes":
            return queryset.filter(barred)
        return queryset.exclude(barred)


class UserChangeAdminForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class UserCreationAdminForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    ordering = ("-date_joined",)
    list_display = (
        "email",
        "display_name",
        "wallet_address",
        "is_staff",
        "undone",
        "date_joined",
    )
    list_filter = ("is_staff", "is_superuser", "is_active", UndoneSharesBarFilter)
    search_fields = ("email", "display_name", "wallet_address", "locked_x_user_id")
    readonly_fields = (
        "locked_x_user_id",
        "undone",
        "undone_shares_forgiven",
        "last_login",
        "date_joined",
    )
    actions = ["lift_undone_bar"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("display_name", "wallet_address", "locked_x_user_id")}),
        (
            "Retweets taken back after payout",
            {"fields": ("undone", "undone_shares_forgiven")},
        ),
        (
            "Permissions",
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),
    )

    @admin.display(description="Undone retweets", ordering="undone_shares")
    def undone(self, user: User) -> str:
        """How many paid retweets the reader took back, and whether that bars them."""
        if not user.undone_shares:
            return "0"
        if is_barred_for_undone_shares(user):
            return format_html(
                "<strong>{}: barred from new campaigns</strong>", user.undone_shares
            )
        if user.undone_shares_forgiven:
            return f"{user.undone_shares} ({user.undone_shares_forgiven} forgiven)"
        return str(user.undone_shares)

    @admin.action(
        description="Lift the bar for undone retweets", permissions=["change"]
    )
    def lift_undone_bar(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        actor = request.user if isinstance(request.user, User) else None
        lifted = sum(
            lift_undone_shares_bar(user, actor=actor, ip=client_ip(request))
            for user in queryset.order_by("pk")
        )
        self.message_user(
            request,
            f"Forgave the undone retweets of {lifted} reader{pluralize(lifted)}: "
            "they may take part in new campaigns again.",
            messages.SUCCESS,
        )


class SecurityEventUserFilter(admin.SimpleListFilter):
    """Events of one user, chosen from the list's user links: a list of every user
    would not fit the sidebar."""

    title = "user"
    parameter_name = "user"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[str, str]]:
        pk = self._user_pk()
        user = User.objects.filter(pk=pk).first() if pk is not None else None
        return [(str(user.pk), user.email)] if user else []

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[SecurityEvent]
    ) -> QuerySet[SecurityEvent]:
        if self.value() is None:
            return queryset
        pk = self._user_pk()
        return queryset.filter(user_id=pk) if pk is not None else queryset.none()

    def _user_pk(self) -> int | None:
        value = self.value()
        return int(value) if value and value.isdigit() else None


@admin.register(SecurityEvent)
class SecurityEventAdmin(admin.ModelAdmin):
    """The security audit trail: read-only, for everyone who may see it."""

    list_display = ("created_at", "kind", "user_link", "actor", "ip", "summary")
    list_filter = ("kind", "created_at", SecurityEventUserFilter)
    search_fields = ("user__email", "actor__email")
    search_help_text = "Search by the email of the user or of the staff member."
    list_select_related = ("user", "actor")
    date_hierarchy = "created_at"
    fields = ("created_at", "kind", "user", "actor", "ip", "detail")
    readonly_fields = fields

    @admin.display(description="User", ordering="user__email")
    def user_link(self, event: SecurityEvent) -> str:
        if event.user is None:
            return "—"
        url = reverse("admin:accounts_securityevent_changelist")
        return format_html(
            '<a href="{}?user={}" title="Only this user\'s events">{}</a>',
            url,
            event.user.pk,
            event.user.email,
        )

    @admin.display(description="Detail")
    def summary(self, event: SecurityEvent) -> str:
        return ", ".join(f"{key}={value}" for key, value in event.detail.items())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: SecurityEvent | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: SecurityEvent | None = None
    ) -> bool:
        return False
