"""The parameter tables in docs/ are generated from the nodes' PARAMETERS lists
(scripts/parameter_tables.py): this fails when someone edits one without the other."""
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "parameter_tables.py"


def test_docs_parameter_tables_match_the_parameters_lists():
    spec = importlib.util.spec_from_file_location("parameter_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for page, params in module.PAGES.items():
        text = page.read_text()
        assert module.render(page, text) == text, \
            f"{page.name}: parameter table out of date: run python scripts/parameter_tables.py"
        for p in params:  # every parameter has a row
            assert f"| `{p.name}` |" in text
