"""Marketing admin: campaigns, recipients and suppressions (and, imported below, offers and coupons).

The campaign editor checks templates and the audience rule when saved, shows the estimate (counts by reason
left out), previews the message a chosen customer would get, and launches, pauses, resumes or cancels through a
confirmation page. Status changes need the `launch_campaign` permission (the "Marketers" group has it).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from config.admin_display import PercentFieldsMixin, ReadOnlyAdminMixin, mapping_table, value_text
from marketing import (
    admin_offers,  # noqa: F401  (registers Offer and Coupon)
    services,
)
from marketing.audience import (
    MAX_VARIANTS,
    REPORTED_REASONS,
    check_uplift_targeting,
    parse_audience_rule,
    preview_message,
)
from marketing.models import Campaign, CampaignAction, Conversion, Recipient, Suppression, UpliftModel, Variant
from marketing.rendering import offer_context, validate_content
from marketing.triggers import PARAMETER_RANGES, TRIGGER_DEFAULTS, trigger_parameters
from marketing.waves import wave_status
from segments.ml.rule_text import RuleTextError, rule_from_text, rule_to_text
from segments.models import Segment
from segments.naming import translate_segment_name
from shop.models import Customer

S = Campaign.Status
EDITABLE = (S.DRAFT, S.SCHEDULED)
REASON_LABELS = dict(Recipient.Exclusion.choices)
STATUS_LABELS = dict(Campaign.Status.choices)
# What each audit row's action code means, in words (the codes written by marketing.services and .suggestions).
ACTION_LABELS = {
    "create": _("created"),
    "edit": _("edited"),
    "draft_from_suggestion": _("drafted from a suggestion"),
    "schedule": _("scheduled"),
    "unschedule": _("taken back to draft"),
    "launch": _("launched"),
    "pause": _("paused"),
    "resume": _("resumed"),
    "cancel": _("cancelled"),
    "complete": _("completed"),
    "sent": _("sending finished"),
}


def action_text(action: CampaignAction) -> str:
    """One audit row in words: '2026-11-29 22:58 drafted from a suggestion (now Draft), by mia'."""
    facts = {
        "at": f"{timezone.localtime(action.at):%Y-%m-%d %H:%M}",
        "action": ACTION_LABELS.get(action.action, action.action),
        "status": STATUS_LABELS.get(action.to_status, action.to_status),
        "user": action.user or _("the system"),
    }
    if action.from_status and action.from_status != action.to_status:
        facts["from"] = STATUS_LABELS.get(action.from_status, action.from_status)
        return _("%(at)s %(action)s (%(from)s → %(status)s), by %(user)s") % facts
    return _("%(at)s %(action)s (now %(status)s), by %(user)s") % facts


T = Campaign.Trigger


class RuleTextField(forms.CharField):
    """The audience rule as the rule language's text (monetary > 100 and country = "DE"), stored as its JSON."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 90})

    def prepare_value(self, value):
        return rule_to_text(value) if isinstance(value, dict) else value

    def to_python(self, value):
        try:
            return rule_from_text(super().to_python(value) or "")
        except RuleTextError as exc:
            raise ValidationError(rule_text_error(exc)) from exc


RULE_TEXT_EXPECTED = {
    "end": _("expected “and”, “or” or the end of the rule"),
    "unreadable": _("cannot read this"),
    "more": _("the rule stops too early"),
    "close": _("expected “)” to close the “(”"),
    "field": _("expected a field name such as monetary, country or attributes.tier"),
    "between": _("expected “and” between the two bounds, as in “between 5 and 20”"),
    "operator": _("expected an operator after “%(field)s”: =, !=, <, <=, >, >=, in, between, contains or within"),
    "list": _('expected a list in brackets, as in ["DE", "AT"]'),
    "list_end": _("expected “,” or the closing “]” of the list"),
    "value": _('expected a value: a number, "quoted text", true or false'),
}


def rule_text_error(exc: RuleTextError) -> str:
    """A rule text mistake in the reader's language: where it is and what was expected there."""
    expected = RULE_TEXT_EXPECTED[exc.expected] % {"field": exc.field}
    if exc.position is None:
        return _("At the end of the rule: %(expected)s.") % {"expected": expected}
    return _("Character %(n)s, at “%(found)s”: %(expected)s.") % {
        "n": exc.position,
        "found": exc.found,
        "expected": expected,
    }


# Each trigger's parameters as named fields: form field -> (trigger, parameter, label, help text).
TRIGGER_FIELDS = {
    "entry_segment": (T.SEGMENT_ENTRY, "segment", _("Segment to enter"), _("Entered a segment: the segment.")),
    "cart_quiet_hours": (
        T.ABANDONED_CART,
        "hours",
        _("Hours without activity"),
        _("Abandoned cart: hours since the last cart activity, with no purchase since."),
    ),
    "cart_lookback_hours": (
        T.ABANDONED_CART,
        "lookback_hours",
        _("Look back (hours)"),
        _("Abandoned cart: carts older than this are forgotten."),
    ),
    "browse_views": (
        T.BROWSE_ABANDONMENT,
        "views",
        _("Views of one product"),
        _("Browse abandonment: times one product was viewed without carting or buying it."),
    ),
    "browse_hours": (
        T.BROWSE_ABANDONMENT,
        "hours",
        _("Within (hours)"),
        _("Browse abandonment: the views counted are those of the last hours."),
    ),
    "win_back_days": (
        T.WIN_BACK,
        "days",
        _("Days without a purchase"),
        _("No purchase for a while: customers who bought before, but not in these days."),
    ),
    "welcome_days": (T.WELCOME, "days", _("First seen within (days)"), _("First seen: customers new in these days.")),
}


class SegmentChoiceField(forms.ModelChoiceField):
    """Segments by their name in the reader's language (generated names are stored in English)."""

    def label_from_instance(self, obj: Segment) -> str:
        return f"{translate_segment_name(obj.name)} ({obj.run.definition.name})"


def _trigger_field(name: str) -> forms.Field:
    trigger, parameter, label, help_text = TRIGGER_FIELDS[name]
    if parameter == "segment":
        return SegmentChoiceField(
            queryset=Segment.objects.active().with_definition().order_by("run__definition__name", "-size"),
            required=False,
            label=label,
            help_text=help_text,
        )
    low, high = PARAMETER_RANGES[parameter]
    return forms.IntegerField(
        required=False,
        min_value=low,
        max_value=high,
        label=label,
        help_text=help_text,
        initial=TRIGGER_DEFAULTS[trigger][parameter],
    )


class CampaignForm(forms.ModelForm):
    audience_rule = RuleTextField(
        required=False,
        label=_("Audience rule"),
        help_text=_(
            'Optional, in the segments\' rule language: monetary > 100 and (country = "Germany" or frequency '
            "between 5 and 20) and last_purchase_at within 90 days. Operators: =, !=, <, <=, >, >=, in [..], "
            "between .. and .., contains, within N days; and binds before or."
        ),
    )
    entry_segment = _trigger_field("entry_segment")
    cart_quiet_hours = _trigger_field("cart_quiet_hours")
    cart_lookback_hours = _trigger_field("cart_lookback_hours")
    browse_views = _trigger_field("browse_views")
    browse_hours = _trigger_field("browse_hours")
    win_back_days = _trigger_field("win_back_days")
    welcome_days = _trigger_field("welcome_days")

    class Meta:
        model = Campaign
        fields = [
            "name",
            "objective",
            "channel",
            "included_segments",
            "excluded_segments",
            "audience_rule",
            "offer",
            "recommendations_count",
            "holdout_share",
            "attribution_window_days",
            "frequency_cap",
            "send_at",
            "starts_at",
            "ends_at",
            "trigger",
            "cooldown_days",
            "uplift_model",
            "uplift_target_share",
            "adaptive",
            "wave_share",
            "wave_interval_hours",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.trigger_parameters or {}
        for name, (trigger, parameter, _label, _help) in TRIGGER_FIELDS.items():
            if self.instance.trigger == trigger and parameter in stored:
                self.initial[name] = stored[parameter]

    def clean(self):
        cleaned = super().clean()
        try:
            check_uplift_targeting(model=cleaned.get("uplift_model"), share=cleaned.get("uplift_target_share"))
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field, messages)
        self._clean_trigger(cleaned)
        return cleaned

    def _clean_trigger(self, cleaned: dict) -> None:
        """The chosen trigger's named fields become its parameters, checked as the trigger evaluator reads them."""
        trigger = cleaned.get("trigger") or ""
        if "trigger" in self.errors:
            return
        if not trigger:
            self.instance.trigger_parameters = {}
            return
        mine = {name: spec for name, spec in TRIGGER_FIELDS.items() if spec[0] == trigger}
        parameters = {}
        for name, (_trigger, parameter, _label, _help) in mine.items():
            value = cleaned.get(name)
            if value is None:
                if parameter == "segment":
                    self.add_error(name, _("Choose the segment whose new members enter the campaign."))
                continue
            parameters[parameter] = value.pk if parameter == "segment" else value
        previous = self.instance.trigger_parameters or {}
        same_segment = trigger == T.SEGMENT_ENTRY and previous.get("segment") == parameters.get("segment")
        if same_segment and "evaluated_run" in previous:  # the run switch already evaluated stays evaluated
            parameters["evaluated_run"] = previous["evaluated_run"]
        if any(name in self.errors for name in mine):
            return
        try:
            self.instance.trigger_parameters = trigger_parameters(trigger=trigger, parameters=parameters)
        except ValidationError as exc:
            self.add_error(None, exc.messages)

    def clean_audience_rule(self):
        rule = self.cleaned_data.get("audience_rule") or {}
        try:
            parse_audience_rule(rule)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict.get("audience_rule", exc.messages)) from exc
        return rule


class VariantFormSet(BaseInlineFormSet):
    """Each variant's templates checked against the campaign as edited (its offer, its product count)."""

    def clean(self):
        super().clean()
        forms_kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if len(forms_kept) > MAX_VARIANTS:
            raise ValidationError(_("At most %(n)s variants.") % {"n": MAX_VARIANTS})
        if forms_kept and sum(f.cleaned_data.get("split_share") or 0 for f in forms_kept) <= 0:
            raise ValidationError(_("The variants' split shares add up to 0 %: give at least one a share."))
        campaign = self.instance
        offer = offer_context(campaign.offer) if campaign.offer_id else None
        for form in forms_kept:
            try:
                validate_content(
                    subject=form.cleaned_data.get("subject", ""),
                    html_template=form.cleaned_data.get("html_template", ""),
                    text_template=form.cleaned_data.get("text_template", ""),
                    offer=offer,
                    products=campaign.recommendations_count or 0,
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field, errors)


class VariantInline(PercentFieldsMixin, admin.StackedInline):
    model = Variant
    formset = VariantFormSet
    percent_fields = ("split_share",)
    extra = 0
    min_num = 1
    max_num = MAX_VARIANTS
    fields = [("name", "split_share", "position"), "subject", "html_template", "text_template"]

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.status in EDITABLE)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return self.with_percent_displays(readonly, everything=not self.has_change_permission(request, obj))

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and (obj is None or obj.status in EDITABLE)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.status in EDITABLE)


@admin.register(Campaign)
class CampaignAdmin(PercentFieldsMixin, admin.ModelAdmin):
    form = CampaignForm
    percent_fields = ("holdout_share", "uplift_target_share", "wave_share")
    inlines = [VariantInline]
    list_display = ["name", "channel", "status", "objective", "send_at", "launched_at", "audience", "progress_text"]
    list_filter = ["status", "channel", "objective", "origin"]
    search_fields = ["name"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["included_segments", "excluded_segments", "offer"]
    readonly_fields = [
        "status",
        "origin",
        "estimate_table",
        "audience_table",
        "progress_text",
        "error",
        "launched_at",
        "completed_at",
        "created_by",
        "created_at",
        "updated_at",
        "recent_actions",
        "wave_table",
    ]
    fieldsets = [
        (None, {"fields": ["name", "objective", "channel", "status", "origin"]}),
        (
            _("Audience"),
            {
                "fields": ["included_segments", "excluded_segments", "audience_rule", "estimate_table"],
                "description": _(
                    "Members of the included segments, minus the excluded ones, narrowed by the rule when one is given."
                ),
            },
        ),
        (
            _("Content and offer"),
            {"fields": ["offer", "recommendations_count", "holdout_share", "attribution_window_days", "frequency_cap"]},
        ),
        (_("When"), {"fields": ["send_at", "starts_at", "ends_at"]}),
        (
            _("Triggered (automation)"),
            {
                "fields": ["trigger", *TRIGGER_FIELDS, "cooldown_days"],
                "classes": ["collapse"],
                "description": _("Only the settings of the chosen trigger are used; empty ones take their default."),
            },
        ),
        (
            _("Targeting by uplift"),
            {"fields": ["uplift_model", "uplift_target_share"], "classes": ["collapse"]},
        ),
        (
            _("Adaptive waves"),
            {
                "fields": ["adaptive", "wave_share", "wave_interval_hours", "wave_table"],
                "description": _(
                    "Send in waves; each later wave goes mostly to the variant converting best so far (Thompson "
                    "sampling). The control group is fixed when the audience is built."
                ),
            },
        ),
        (
            _("Progress"),
            {
                "fields": [
                    "progress_text",
                    "audience_table",
                    "error",
                    "launched_at",
                    "completed_at",
                    "created_by",
                    "created_at",
                    "updated_at",
                    "recent_actions",
                ]
            },
        ),
    ]
    # Shown instead of the rule's and the trigger's inputs once the campaign can no longer be edited.
    LOCKED_DISPLAYS = {"audience_rule": "audience_rule_text", **dict.fromkeys(TRIGGER_FIELDS, "trigger_settings")}

    # --- display -------------------------------------------------------------------------------------------

    @admin.display(description=_("audience"))
    def audience(self, obj: Campaign) -> str:
        counts = obj.audience_counts or {}
        if counts.get("built_at"):
            return _("%(treated)s + %(control)s control") % {
                "treated": f"{counts.get('treated', 0):,}",
                "control": f"{counts.get('control', 0):,}",
            }
        estimate = obj.estimate or {}
        return _("≈ %(n)s (estimate)") % {"n": f"{estimate['treated']:,}"} if "treated" in estimate else "—"

    @admin.display(description=_("progress"))
    def progress_text(self, obj: Campaign) -> str:
        return f"{obj.progress} % — {obj.stage}" if obj.stage else "—"

    @staticmethod
    def _counts_table(counts: dict, *, title: str) -> str:
        if not counts:
            return "—"
        excluded = counts.get("excluded", {})
        rows = [(_("Audience"), counts.get("audience", 0))]
        shown = [r for r in REPORTED_REASONS if r in excluded]
        rows += [(_("left out: %(reason)s") % {"reason": REASON_LABELS.get(r, r)}, excluded.get(r, 0)) for r in shown]
        rows += [(_("Control (held out)"), counts.get("control", 0)), (_("Treated"), counts.get("treated", 0))]
        rows += [(_("variant %(name)s") % {"name": name}, n) for name, n in (counts.get("variants") or {}).items()]
        body = format_html_join(
            "", "<tr><td>{}</td><td style='text-align:right'>{}</td></tr>", ((a, f"{b:,}") for a, b in rows)
        )
        at = counts.get("at") or counts.get("built_at") or ""
        return format_html("<table><caption>{} {}</caption>{}</table>", title, at[:16].replace("T", " "), body)

    @admin.display(description=_("estimate"))
    def estimate_table(self, obj: Campaign) -> str:
        table = self._counts_table(obj.estimate or {}, title=_("Estimated"))
        if obj.pk:
            url = reverse("admin:marketing_campaign_estimate", args=[obj.pk])
            return format_html('{}<p><a class="button" href="{}">{}</a></p>', table, url, _("Estimate now"))
        return table

    @admin.display(description=_("built audience"))
    def audience_table(self, obj: Campaign) -> str:
        return self._counts_table(obj.audience_counts or {}, title=_("Built"))

    @admin.display(description=_("history"))
    def recent_actions(self, obj: Campaign) -> str:
        if not obj.pk:
            return "—"
        actions = CampaignAction.objects.filter(campaign=obj).select_related("user")[:10]
        return format_html_join("", "<div>{}</div>", ((action_text(a),) for a in actions))

    @admin.display(description=_("waves"))
    def wave_table(self, obj: Campaign) -> str:
        status = wave_status(obj) if obj.pk else None
        if not status:
            return "—"
        rows = [
            (
                w["wave"],
                str(w["released_at"])[:16].replace("T", " "),
                ", ".join(f"{name} {n:,}" for name, n in w.get("allocation", {}).items()) or w.get("by", ""),
                ", ".join(f"{name} {p:.0%}" for name, p in w.get("probability_best", {}).items()) or "—",
                ", ".join(f"{name} {o['converted']}/{o['sent']}" for name, o in w.get("observed", {}).items()) or "—",
            )
            for w in status["released"]
        ]
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        head = format_html_join(
            "",
            "<th>{}</th>",
            (
                (_("wave"),),
                (_("released"),),
                (_("treated per variant"),),
                (_("chance of being best"),),
                (_("converted / sent before it"),),
            ),
        )
        waiting = ", ".join(str(w) for w in status["waiting"]) or _("none")
        upcoming = status["next_release_at"]
        summary = _("%(waves)s waves; waiting: %(waiting)s") % {"waves": status["waves"], "waiting": waiting}
        if upcoming:
            summary += _("; next release %(when)s") % {"when": f"{upcoming:%Y-%m-%d %H:%M}"}
        return format_html("<table><thead><tr>{}</tr></thead>{}</table><p>{}</p>", head, body, summary)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status not in EDITABLE:
            editable = [f.name for f in Campaign._meta.get_fields() if getattr(f, "editable", False)]
            fields += [name for name in editable if name not in fields and name != "id"]
            fields += ["audience_rule_text", "trigger_settings"]
        return self.with_percent_displays(fields)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or obj.status in EDITABLE:
            return fieldsets
        locked = []
        for title, options in fieldsets:
            names = [self.LOCKED_DISPLAYS.get(name, name) for name in options["fields"]]
            locked.append((title, {**options, "fields": list(dict.fromkeys(names))}))
        return locked

    @admin.display(description=_("audience rule"))
    def audience_rule_text(self, obj: Campaign) -> str:
        return rule_to_text(obj.audience_rule) or "—"

    @admin.display(description=_("trigger settings"))
    def trigger_settings(self, obj: Campaign) -> str:
        stored = obj.trigger_parameters or {}
        shown = [
            f"{label}: {stored[parameter]}"
            for trigger, parameter, label, _help in TRIGGER_FIELDS.values()
            if trigger == obj.trigger and parameter in stored and parameter != "segment"
        ]
        if obj.trigger == T.SEGMENT_ENTRY and stored.get("segment"):
            segment = Segment.objects.filter(pk=stored["segment"]).first()
            shown.insert(0, f"{TRIGGER_FIELDS['entry_segment'][2]}: {segment or stored['segment']}")
        return "; ".join(shown) or "—"

    def save_model(self, request, obj: Campaign, form, change):
        if not change:
            obj.created_by = request.user
        elif obj.status == S.SCHEDULED:
            # Edited after scheduling: back to draft, to be checked and scheduled again.
            obj.status = S.DRAFT
        super().save_model(request, obj, form, change)
        CampaignAction.objects.create(
            campaign=obj, action="edit" if change else "create", to_status=obj.status, user=request.user
        )

    # --- custom pages ------------------------------------------------------------------------------------------

    def get_urls(self):
        def view(fn):
            return self.admin_site.admin_view(fn)

        return [
            path("<int:pk>/estimate/", view(self.estimate_view), name="marketing_campaign_estimate"),
            path("<int:pk>/preview/", view(self.preview_view), name="marketing_campaign_preview"),
            path("<int:pk>/<str:action>/confirm/", view(self.action_view), name="marketing_campaign_action"),
            *super().get_urls(),
        ]

    def _campaign(self, request, pk: int, *, change: bool = False) -> Campaign:
        campaign = get_object_or_404(Campaign.objects.select_related("offer"), pk=pk)
        allowed = (
            self.has_change_permission(request, campaign) if change else self.has_view_permission(request, campaign)
        )
        if not allowed:
            raise PermissionDenied
        return campaign

    def estimate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self._campaign(request, pk)
        try:
            estimate = services.campaign_estimate(campaign=campaign)
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)
        else:
            self.message_user(
                request,
                _(
                    "Estimated audience: %(audience)s; %(eligible)s reachable (%(treated)s treated, %(control)s "
                    "control) in %(seconds)s s."
                )
                % {key: f"{estimate[key]:,}" for key in ("audience", "eligible", "treated", "control", "seconds")},
            )
        return HttpResponseRedirect(reverse("admin:marketing_campaign_change", args=[pk]))

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self._campaign(request, pk)
        variants = list(campaign.variants.all())
        external_id = (request.GET.get("customer") or "").strip()
        variant = next(
            (v for v in variants if str(v.pk) == request.GET.get("variant")), variants[0] if variants else None
        )
        customer = Customer.objects.filter(external_id=external_id).first() if external_id else None
        if customer is None and not external_id:
            member = campaign.included_segments.values_list("memberships__customer_id", flat=True).first()
            customer = Customer.objects.filter(pk=member).first() if member else None
        preview, error = None, ""
        if external_id and customer is None:
            error = _("No customer with the id “%(id)s”.") % {"id": external_id}
        elif customer is not None and variant is not None:
            try:
                preview = preview_message(campaign=campaign, variant=variant, customer=customer)
            except ValueError as exc:  # a template problem found only with this customer's data
                error = str(exc)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Preview of %(name)s") % {"name": campaign.name},
            "campaign": campaign,
            "variants": variants,
            "variant": variant,
            "customer": customer,
            "preview": preview,
            "exclusion_label": REASON_LABELS.get(preview["exclusion"], "") if preview else "",
            "error": error,
        }
        return TemplateResponse(request, "admin/marketing/campaign/preview.html", context)

    ACTIONS = {
        "launch": (_("Launch"), services.campaign_launch, _("Build the audience now and start sending.")),
        "pause": (_("Pause"), services.campaign_pause, _("Stop sending after the current batch (or stop showing).")),
        "resume": (_("Resume"), services.campaign_resume, _("Carry on where the campaign stopped.")),
        "cancel": (_("Cancel"), services.campaign_cancel, _("Nothing more is sent; this cannot be undone.")),
    }

    def action_view(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        if action not in self.ACTIONS:
            raise PermissionDenied
        campaign = self._campaign(request, pk)
        if not request.user.has_perm("marketing.launch_campaign"):
            raise PermissionDenied
        label, service, explanation = self.ACTIONS[action]
        change_url = reverse("admin:marketing_campaign_change", args=[pk])
        if request.method == "POST":
            try:
                service(campaign=campaign, user=request.user)
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            else:
                campaign.refresh_from_db()
                self.message_user(
                    request,
                    _("%(action)s: %(name)s is now %(status)s.")
                    % {"action": label, "name": campaign.name, "status": campaign.get_status_display().lower()},
                )
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("%(action)s %(name)s?") % {"action": label, "name": campaign.name},
            "campaign": campaign,
            "label": label,
            "explanation": explanation,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/marketing/campaign/confirm_action.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        campaign = Campaign.objects.filter(pk=object_id).only("status").first()
        if campaign is not None:
            may = request.user.has_perm("marketing.launch_campaign")
            legal = {
                "launch": campaign.status in EDITABLE,
                "pause": campaign.status in (S.SENDING, S.RUNNING),
                "resume": campaign.status == S.PAUSED,
                "cancel": campaign.status not in (S.COMPLETED, S.CANCELLED),
            }
            extra_context["campaign_actions"] = [
                (name, self.ACTIONS[name][0]) for name, ok in legal.items() if ok and may
            ]
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Recipient)
class RecipientAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "customer",
        "campaign",
        "status",
        "exclusion",
        "variant",
        "is_control",
        "segment_name",
        "sent_at",
        "opened_at",
        "clicked_at",
        "converted_at",
        "revenue",
    ]
    list_filter = [
        "status",
        "exclusion",
        "is_control",
        ("campaign", admin.RelatedOnlyFieldListFilter),
        ("variant", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["=customer__external_id", "customer__email", "coupon_code", "=recommendation_id"]
    list_select_related = ["customer", "campaign", "variant"]
    show_full_result_count = False
    raw_id_fields = ["customer", "campaign", "variant", "segment"]

    def get_fields(self, request, obj=None):
        # Its JSON (attributes, recommended products) shown as readable lists, not raw JSON.
        return [
            *(f.name for f in Recipient._meta.fields if f.name not in {"id", "attributes", "recommended_skus"}),
            "attributes_table",
            "recommended_products",
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description=_("attributes at send time"))
    def attributes_table(self, obj):
        return mapping_table(obj.attributes, key_header=_("attribute"))

    @admin.display(description=_("recommended products"))
    def recommended_products(self, obj):
        return value_text(obj.recommended_skus)


class SuppressionUploadForm(forms.Form):
    file = forms.FileField(
        help_text=_("CSV with a header: email, address, phone or external_id; optional channel, reason.")
    )
    channel = forms.ChoiceField(
        label=_("Channel"), choices=[("", _("Every channel")), *Campaign.Channel.choices], required=False
    )
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["address", "customer", "channel", "reason", "created_at"]
    list_filter = ["channel"]
    search_fields = ["address", "=customer__external_id", "customer__email", "reason"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    change_list_template = "admin/marketing/suppression/change_list.html"

    def save_model(self, request, obj, form, change):
        obj.address = obj.address.strip().lower()
        super().save_model(request, obj, form, change)

    def get_urls(self):
        return [
            path(
                "upload/",
                self.admin_site.admin_view(self.upload_view),
                name="marketing_suppression_upload",
            ),
            *super().get_urls(),
        ]

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SuppressionUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = services.suppressions_import_csv(
                    data=form.cleaned_data["file"].read(),
                    channel=form.cleaned_data["channel"],
                    reason=form.cleaned_data["reason"],
                )
            except (ValidationError, UnicodeDecodeError) as exc:
                form.add_error("file", getattr(exc, "messages", [str(exc)]))
            else:
                self.message_user(
                    request,
                    _("Added %(added)s to the suppression list; %(skipped)s already there.")
                    % {"added": f"{result['added']:,}", "skipped": f"{result['skipped']:,}"},
                )
                for error in result["errors"][:20]:
                    self.message_user(request, error, messages.WARNING)
                return HttpResponseRedirect(reverse("admin:marketing_suppression_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Upload a suppression list"),
            "form": form,
        }
        return TemplateResponse(request, "admin/marketing/suppression/upload.html", context)


@admin.register(CampaignAction)
class CampaignActionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "campaign", "action_label", "from_status_label", "to_status_label", "user", "note"]
    list_filter = ["action"]
    search_fields = ["campaign__name", "user__username", "note"]
    list_select_related = ["campaign", "user"]

    @admin.display(description=_("action"), ordering="action")
    def action_label(self, obj: CampaignAction) -> str:
        return ACTION_LABELS.get(obj.action, obj.action)

    @admin.display(description=_("from status"), ordering="from_status")
    def from_status_label(self, obj: CampaignAction) -> str:
        return STATUS_LABELS.get(obj.from_status, obj.from_status) or "—"

    @admin.display(description=_("to status"), ordering="to_status")
    def to_status_label(self, obj: CampaignAction) -> str:
        return STATUS_LABELS.get(obj.to_status, obj.to_status) or "—"


@admin.register(Conversion)
class ConversionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["recipient", "occurred_at", "amount", "direct"]
    list_filter = ["direct"]
    search_fields = ["=recipient__customer__external_id"]
    list_select_related = ["recipient"]
    raw_id_fields = ["recipient", "interaction"]


@admin.register(UpliftModel)
class UpliftModelAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Written by train_uplift: read only, its metrics and features as tables."""

    list_display = ["campaign", "variant_name", "outcome", "learner", "created_at"]
    list_filter = ["learner", "outcome"]
    search_fields = ["campaign__name", "variant_name"]
    list_select_related = ["campaign"]
    fields = ["campaign", "variant_name", "outcome", "learner", "created_at", "metrics_table", "feature_list"]
    readonly_fields = fields

    @admin.display(description=_("metrics"))
    def metrics_table(self, obj):
        return mapping_table(obj.metrics, key_header=_("metric"))

    @admin.display(description=_("features"))
    def feature_list(self, obj):
        return value_text(obj.features)
