"""Human-readable reports rendered from the JSON artifacts (model card, ...)."""

from mmm_evidence.report.model_card import MODEL_CARD_FILE, render_model_card, write_model_card

__all__ = ["MODEL_CARD_FILE", "render_model_card", "write_model_card"]
