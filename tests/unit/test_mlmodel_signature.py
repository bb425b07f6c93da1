"""A logged model's signature, read from its MLmodel file as MLflow writes it."""

from __future__ import annotations

from pathlib import Path

from handler.registry.signatures import parse_signature, read_signature

COLUMNS = """\
artifact_path: churn_pipeline_model
flavors: {}
signature:
  inputs: '[{"type": "double", "name": "tenure_months", "required": true}, {"type":
    "long", "name": "orders", "required": true}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
  params: null
"""


def test_column_inputs_and_declared_outputs_are_read():
    assert parse_signature(COLUMNS) == ({"tenure_months": "double", "orders": "long"}, True)


def test_tensor_inputs_are_named_by_position_and_missing_outputs_say_so():
    text = """signature:\n  inputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float64"}}]'\n"""
    assert parse_signature(text) == ({"0": "tensor"}, False)


def test_no_signature_empty_inputs_or_an_unreadable_file_mean_no_signature():
    assert parse_signature("flavors: {}\n") == (None, False)
    assert parse_signature("signature:\n  inputs: '[]'\n  outputs: '[1]'\n") == (None, False)
    assert parse_signature("signature:\n  inputs: 'not json'\n") == (None, False)
    assert parse_signature(": : [\n") == (None, False)
    assert parse_signature("just text") == (None, False)


def test_the_file_alone_is_read_from_its_artifact_location(tmp_path: Path):
    (tmp_path / "MLmodel").write_text(COLUMNS)
    assert read_signature(str(tmp_path / "MLmodel")) == (
        {"tenure_months": "double", "orders": "long"}, True)
