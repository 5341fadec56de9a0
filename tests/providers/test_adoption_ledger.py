"""The estate's one adoption ledger: claims per deployment, shared by every vendor's provider."""

from __future__ import annotations

from providers.adoption import Claim, DeploymentLedger

KEY = ("https://api.example.invalid", "monitor", "42")


def test_an_object_taken_over_stays_taken_over_when_a_creation_is_recorded_for_it_later():
    ledger = DeploymentLedger()
    ledger.claim(KEY, Claim.ADOPTED)
    ledger.claim(KEY, Claim.CREATED)
    assert ledger.claimed(KEY) is Claim.ADOPTED


def test_a_second_claim_is_refused_and_names_the_first():
    ledger = DeploymentLedger()
    assert ledger.claim_unless_claimed(KEY, Claim.CREATED) is None
    assert ledger.claim_unless_claimed(KEY, Claim.ADOPTED) is Claim.CREATED
    assert ledger.claimed(KEY) is Claim.CREATED


def test_the_same_id_at_another_vendor_or_kind_is_another_object():
    ledger = DeploymentLedger()
    ledger.claim(KEY, Claim.ADOPTED)
    assert ledger.claimed(("https://other.example.invalid", "monitor", "42")) is None
    assert ledger.claimed((KEY[0], "contact", "42")) is None


def test_forgetting_starts_a_new_deployment():
    ledger = DeploymentLedger()
    ledger.claim(KEY, Claim.CREATED)
    ledger.forget()
    assert ledger.claimed(KEY) is None
