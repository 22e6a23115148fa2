"""Human-readable reports rendered from the JSON artifacts: the model card (HTML + Markdown),
index.html, defects.md and SUMMARY.md (``reviewer.write_reviewer_outputs`` writes them all)."""

from mmm_evidence.report.model_card import (
    MODEL_CARD_FILE,
    MODEL_CARD_MD_FILE,
    build_model_card,
    render_model_card,
    render_model_card_markdown,
    write_model_card,
)

__all__ = ["MODEL_CARD_FILE", "MODEL_CARD_MD_FILE", "build_model_card", "render_model_card",
           "render_model_card_markdown", "write_model_card"]
