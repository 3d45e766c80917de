"""A model card shown as a table: every field, numbers rounded for reading."""

from nima_utils.model.card import ModelCard, card_rows


def test_card_rows_round_floats_and_flatten_training_and_metrics():
    card = ModelCard(alpha=0.25, training={"rates": {"base": 1e-4}, "head_phase_lr": 0.003, "seed": 0},
                     metrics={"val_emd": 0.08383313566446304, "best_epoch": "head 244"})
    rows = card_rows(card)
    assert rows["card metrics: val_emd"] == "0.08383" and rows["card metrics: best_epoch"] == "head 244"
    assert rows["training: head_phase_lr"] == "0.003" and rows["training: seed"] == "0"
    assert rows["alpha"] == "0.25" and rows["labels"] == "unknown" and "training: rates" not in rows
