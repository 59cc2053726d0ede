"""Every module's documentation matches its code, as ansible-test sanity's validate-modules checks it.

The documentation is read as ansible-doc renders it (doc fragments merged), in one ansible-doc run for
all the modules. The argument_spec is captured without running the module: its AnsibleModule is
replaced by a class that records what it is given, then stops main().
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "library"
MODULES = sorted(path.stem for path in LIBRARY.glob("*.py"))
# A module that connects to PostgreSQL imports pgconn, which needs psycopg 3 on the managed host.
IMPORTS_PGCONN = re.compile(r"^from ansible_collections\.yemma\.dbsplit\.plugins\.module_utils import .*\bpgconn\b", re.M)
POSTGRESQL_MODULES = [name for name in MODULES if IMPORTS_PGCONN.search((LIBRARY / f"{name}.py").read_text())]


@pytest.fixture(scope="module")
def docs():
    """ansible-doc --json of every module: {name: {"doc": ..., "return": ..., ...}}."""
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    run = subprocess.run([sys.executable, str(bin_dir / "ansible-doc"), "-M", "library", "--json", *MODULES],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, f"ansible-doc failed:\n{run.stderr}"
    return json.loads(run.stdout)


class _Stop(Exception):
    """Raised by the stand-in AnsibleModule once it has recorded its arguments."""


def module_arguments(name):
    """What the module's main() passes to AnsibleModule (argument_spec, supports_check_mode, required_if...)."""
    recorded = {}

    class RecordingModule:
        def __init__(self, *args, **kwargs):
            if args:
                kwargs["argument_spec"] = args[0]
            recorded.update(kwargs)
            raise _Stop

    spec = importlib.util.spec_from_file_location(f"_docs_test_{name}", LIBRARY / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.AnsibleModule = RecordingModule
    with pytest.raises(_Stop):
        module.main()
    return recorded


def _same(doc_value, code_value):
    # Strict: true is not 1, "5" is not 5, [] is not {}.
    return json.dumps(doc_value, sort_keys=True) == json.dumps(code_value, sort_keys=True)


def compare_options(where, documented, coded, mismatches):
    """Append to mismatches each difference between documented options and argument_spec options."""
    documented, coded = documented or {}, coded or {}
    for name in sorted(set(documented) - set(coded)):
        mismatches.append(f"{where}.{name}: doc documents it, code has no such option")
    for name in sorted(set(coded) - set(documented)):
        mismatches.append(f"{where}.{name}: doc does not document it, code takes it")
    for name in sorted(set(documented) & set(coded)):
        doc, code = documented[name], coded[name]
        path = f"{where}.{name}"
        doc_type, code_type = doc.get("type", "str"), code.get("type", "str")
        pairs = [("type", doc_type, code_type),
                 ("required", doc.get("required", False), code.get("required", False)),
                 ("default", doc.get("default"), code.get("default"))]
        if doc.get("choices") is not None or code.get("choices") is not None:
            pairs.append(("choices", sorted(doc.get("choices") or [], key=repr),
                          sorted(code.get("choices") or [], key=repr)))
        if "list" in (doc_type, code_type):
            pairs.append(("elements", doc.get("elements"), code.get("elements")))
        for what, doc_value, code_value in pairs:
            if not _same(doc_value, code_value):
                mismatches.append(f"{path}: doc says {what}={doc_value!r}, code says {what}={code_value!r}")
        compare_options(path, doc.get("suboptions"), code.get("options"), mismatches)


@pytest.mark.parametrize("name", MODULES)
def test_options_match_the_argument_spec(docs, name):
    assert name in docs, f"ansible-doc did not render {name}"
    mismatches = []
    compare_options(name, docs[name]["doc"].get("options"), module_arguments(name)["argument_spec"], mismatches)
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("name", MODULES)
def test_documentation_has_the_required_sections(docs, name):
    doc = docs[name]["doc"]
    assert doc.get("short_description"), f"{name}: no short_description"
    assert doc.get("author"), f"{name}: no author"
    check_mode = (doc.get("attributes") or {}).get("check_mode")
    assert check_mode and check_mode.get("description"), f"{name}: no attributes.check_mode with a description"
    expected = "full" if module_arguments(name).get("supports_check_mode") else "none"
    assert check_mode.get("support") == expected, \
        f"{name}: doc says check_mode support {check_mode.get('support')!r}, code says {expected!r}"


@pytest.mark.parametrize("name", POSTGRESQL_MODULES)
def test_postgresql_modules_require_psycopg_3(docs, name):
    requirements = docs[name]["doc"].get("requirements") or []
    assert any(re.search(r"\bpsycopg >= 3\b", requirement) for requirement in requirements), \
        f"{name}: requirements {requirements!r} do not name psycopg 3"


SAMPLE_TYPES = {"str": str, "int": int, "float": (float, int), "bool": bool, "dict": dict, "list": list}


def _is_a(value, kind):
    return isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)


@pytest.mark.parametrize("name", MODULES)
def test_every_return_value_has_a_sample(docs, name):
    returned = docs[name].get("return") or {}
    assert returned, f"{name}: no RETURN"
    missing = [key for key, value in returned.items() if "sample" not in value]
    assert not missing, f"{name}: no sample for {', '.join(missing)}"
    wrong = [f"{key} ({value['type']}): {value['sample']!r}" for key, value in returned.items()
             if value.get("type") in SAMPLE_TYPES and not _is_a(value["sample"], SAMPLE_TYPES[value["type"]])]
    assert not wrong, f"{name}: sample not of its type: {'; '.join(wrong)}"


def _entries(entries, nested, prefix=()):
    """(path, entry) of every option (nested: suboptions) or return value (nested: contains), at any depth."""
    for name, entry in (entries or {}).items():
        yield prefix + (name,), entry
        yield from _entries(entry.get(nested), nested, prefix + (name,))


def _texts(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, dict)):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _texts(item)


@pytest.mark.parametrize("name", MODULES)
def test_markup_names_existing_options_and_return_values(docs, name):
    """O(...) and RV(...) name an option or a return value of the module (servers[].streams, operation=lock)."""
    known = {"O": {path for path, _ in _entries(docs[name]["doc"].get("options"), "suboptions")},
             "RV": {path for path, _ in _entries(docs[name].get("return"), "contains")}}
    wrong = []
    for text in _texts([docs[name]["doc"], docs[name].get("return")]):
        for kind, reference in re.findall(r"\b(O|RV)\(([^)]+)\)", text):
            if ":" in reference or "#" in reference:
                continue  # another plugin's, or ignore:
            path = tuple(re.sub(r"\[[^\]]*\]", "", part) for part in reference.split("=", 1)[0].split("."))
            if path not in known[kind]:
                wrong.append(f"{kind}({reference})")
    assert not wrong, f"{name}: no such option or return value: {', '.join(wrong)}"


OPTION_KEYS = {"description", "type", "required", "default", "choices", "elements", "suboptions", "aliases",
               "version_added", "version_added_collection", "apply_defaults", "deprecated"}
RETURN_KEYS = {"description", "returned", "type", "elements", "sample", "contains", "version_added",
               "version_added_collection"}


@pytest.mark.parametrize("name", MODULES)
def test_entries_have_only_known_keys(docs, name):
    """A comma in an unquoted flow mapping ({description: a, b, type: str}) splits the description into keys."""
    wrong = [f"{'.'.join(path)}: {sorted(set(entry) - allowed)}"
             for entries, nested, allowed in ((docs[name]["doc"].get("options"), "suboptions", OPTION_KEYS),
                                              (docs[name].get("return"), "contains", RETURN_KEYS))
             for path, entry in _entries(entries, nested) if set(entry) - allowed]
    assert not wrong, f"{name}: unknown keys (quote the description?): " + "; ".join(wrong)
