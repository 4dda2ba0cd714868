"""What demo traffic is made of: the agents, the models, the daily rhythm and the question templates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEMO_USER_PREFIX = "demo:"
DEMO_TITLE_PREFIX = "[demo] "
AGENTS = ("demo:ana", "demo:ben", "demo:chloe", "demo:dev", "demo:emre", "demo:fatima")
AGENT_SHARES = (0.24, 0.2, 0.18, 0.16, 0.12, 0.1)
KNOWLEDGE_MANAGER = "demo:grace"
# (answer_mode, model) of the chat; the shares drift towards gpt-4o-mini over the period.
MODELS = (("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("offline", "extractive"))
ERRORS = {
    "timeout": "OpenAI did not answer in time; try again, or raise OPENAI_TIMEOUT.",
    "rate_limited": "OpenAI is rate-limiting requests; wait a moment and try again.",
    "server_error": "OpenAI had a server error; try again in a moment.",
}
DOWN_REASONS = ("wrong", "outdated", "missing", "bad_citation")
COMMENTS = ("Customer had a different plan.", "Policy changed last month.", "Cited the wrong section.")
# Relative activity by weekday (Monday first) and by hour of the day (UTC).
WEEKDAY = np.array([1.0, 1.0, 0.95, 0.95, 0.85, 0.2, 0.15])
HOURLY = (
    np.array([3, 2, 2, 2, 3, 5, 10, 25, 60, 95, 100, 95, 60, 85, 95, 90, 75, 50, 25, 15, 10, 7, 5, 4]) / 100
)


@dataclass(frozen=True)
class Template:
    topic: str
    document: str  # the title cited when the knowledge base has no documents
    weight: float  # relative popularity
    answer: str | None  # None: the documents do not say (an unanswerable theme)
    variants: tuple[str, ...]


def _t(topic: str, document: str, weight: float, answer: str | None, *variants: str) -> Template:
    return Template(topic, document, weight, answer, variants)


REFUNDS, RETENTION, SIGN_IN, PLANS, VAULT, SYNC = "refunds", "retention", "sign-in", "plans", "vault", "sync"
# fmt: off
TEMPLATES: tuple[Template, ...] = (
    _t(REFUNDS, "Refund policy", 9, "Annual plans get a full refund within 30 days of purchase or renewal.",
       "Can a customer get a full refund on an annual plan?", "annual plan refund within 30 days",
       "Customer bought a yearly plan two weeks ago and wants their money back, is that possible?"),
    _t(REFUNDS, "Refund policy", 6, "After 30 days the refund is (annual price / 12) x unused whole months.",
       "How is a prorated refund calculated after 30 days?", "prorated refund annual plan formula",
       "Customer cancels an annual plan after 4 months, how much do we refund?"),
    _t(REFUNDS, "Refund policy", 5,
       "Monthly plans are not refundable; they stay active until the month ends.",
       "Are monthly plans refundable?", "refund for monthly subscription",
       "Can I refund a customer who cancelled their monthly plan yesterday?"),
    _t(REFUNDS, "Refund policy", 2,
       "Escalate Enterprise refunds to the account manager; the order form rules.",
       "How do I handle a refund request from an Enterprise customer?", "enterprise refund who handles it"),
    _t(RETENTION, "Data retention and deletion", 7, "Deleted items stay in the Trash for 30 days.",
       "How long do deleted files stay in the Trash?", "restore a file deleted last week",
       "Customer emptied a folder by mistake, can we get it back?"),
    _t(RETENTION, "Data retention and deletion", 4, "Version history length depends on the plan.",
       "How many days of version history does each plan keep?", "version history retention per plan"),
    _t(RETENTION, "Data retention and deletion", 2, "Admins place holds from Admin Console > Compliance.",
       "How does legal hold work?", "put a user on legal hold"),
    _t(RETENTION, "Data retention and deletion", 3,
       "Closed accounts' data is deleted after the grace period.",
       "What happens to the data when an account is closed?", "account closure data deletion timeline"),
    _t(RETENTION, "Data retention and deletion", 3,
       "Customers export everything from Admin Console > Export.",
       "How can a customer export all their data?", "export workspace data before cancelling"),
    _t(SIGN_IN, "Password reset and 2FA", 8, "The reset link is valid for 30 minutes and works once.",
       "How long is a password reset link valid?", "reset link expired what now",
       "User says the password reset link doesn't work"),
    _t(SIGN_IN, "Password reset and 2FA", 5, "Check spam and search for no-reply@northwindcloud.example.",
       "The password reset email never arrived, what should the user do?", "no reset email received"),
    _t(SIGN_IN, "Password reset and 2FA", 6, "After 5 failed attempts the account locks for 15 minutes.",
       "Why is the account locked after failed sign-ins?", "account locked too many attempts",
       "How long does an account lockout last?"),
    _t(SIGN_IN, "Password reset and 2FA", 4, "Account settings > Security > Two-factor authentication.",
       "How do I turn on two-factor authentication?", "set up 2FA with an authenticator app"),
    _t(SIGN_IN, "Password reset and 2FA", 4, "Use one of the 10 recovery codes, or regenerate them.",
       "User lost their phone and can't pass 2FA", "lost recovery codes 2FA"),
    _t(SIGN_IN, "Password reset and 2FA", 2, "Run the Owner identity verification process (2 business days).",
       "The workspace owner is locked out of 2FA with no recovery codes", "owner lost 2FA device"),
    _t(PLANS, "Pricing plans", 6, "Team costs $39 a month or $390 a year.",
       "How much does the Team plan cost?", "team plan price per month",
       "What is the yearly price of the Team plan?"),
    _t(PLANS, "Pricing plans", 4, "Storage per user grows with the plan; see the pricing table.",
       "How much storage does each plan include?", "storage limit business plan"),
    _t(PLANS, "Pricing plans", 3, "Business gets a 4-hour response on weekdays by email, chat and phone.",
       "What support response time does the Business plan get?", "support hours per plan"),
    _t(PLANS, "Service level agreement", 3, "The SLA promises monthly uptime with service credits below it.",
       "What uptime does the SLA guarantee?", "SLA uptime percentage"),
    _t(PLANS, "Service level agreement", 2, "Credits are requested within 30 days of the incident.",
       "How does a customer claim a service credit after an outage?", "service credit request outage"),
    _t(VAULT, "Vault appliance: shipping and returns", 3,
       "EU deliveries take 3-5 business days from Rotterdam.",
       "How long does shipping of a Vault take to Germany?", "vault delivery time EU"),
    _t(VAULT, "Vault appliance: shipping and returns", 2,
       "Returns within 14 days of delivery with an RMA number.",
       "How does a customer return a Vault appliance?", "vault return RMA"),
    _t(VAULT, "Vault appliance: shipping and returns", 2, "The V2-4 costs $649 and the V2-12 $1,490.",
       "How much does the Vault backup appliance cost?", "vault price V2-12"),
    _t(SYNC, "Troubleshooting the sync client", 5, "NW-101 means the storage quota is used up.",
       "What does error NW-101 mean?", "sync error storage quota exceeded"),
    _t(SYNC, "Troubleshooting the sync client", 4, "NW-204: another program locks the file; close it.",
       "Sync shows NW-204 file locked", "excel file not syncing locked"),
    _t(SYNC, "Troubleshooting the sync client", 3, "NW-309: the Windows path is longer than 260 characters.",
       "Why are some files skipped with NW-309?", "path too long sync windows"),
    _t(SYNC, "Troubleshooting the sync client", 3,
       "NW-412: the session expired; sign in to the client again.",
       "Sync client says session expired NW-412", "NW-412 how to fix"),
    _t(SIGN_IN, "Password reset and 2FA", 3, None,
       "Do we support SCIM provisioning with Okta?", "okta scim user provisioning",
       "Can users be provisioned automatically from Okta?"),
    _t(PLANS, "Pricing plans", 2, None,
       "Is there a discount for nonprofits?", "nonprofit or education discount"),
    _t(SYNC, "Troubleshooting the sync client", 2, None,
       "Is there a sync client for Linux?", "linux desktop client support"),
    _t(PLANS, "Service level agreement", 2, None,
       "Can customers pay in Japanese yen?", "invoice currency JPY"),
    _t(RETENTION, "Data retention and deletion", 1.5, None,
       "Will we sign a HIPAA business associate agreement?", "HIPAA BAA"),
)
# fmt: on
