#!/usr/bin/env python3
"""Write docs/variables.md from the roles' argument specs, their defaults and group_vars.

    python3 scripts/docs_variables.py          write docs/variables.md
    python3 scripts/docs_variables.py --check  exit 1 if docs/variables.md is out of date

Sources, read as they are (nothing is kept by hand):
- roles/<role>/meta/argument_specs.yml: one row per option, over every entry point of the role
  (an option in several entry points is listed once, with the first one's type and description);
- roles/<role>/defaults/main.yml: the default a run gets, and the comment lines just above the
  variable (they carry the units), added to the description;
- group_vars/all/main.yml: every variable, its default as YAML and the comment above it.

tests/unit/test_docs.py checks that docs/variables.md is what render() makes now.
"""

import os
import re
import sys

try:
    import yaml
except ImportError:  # the project's virtualenv has PyYAML
    VENV_PYTHON = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv", "bin", "python")
    if os.path.exists(VENV_PYTHON) and os.path.realpath(sys.executable) != os.path.realpath(VENV_PYTHON):
        os.execv(VENV_PYTHON, [VENV_PYTHON] + sys.argv)
    raise

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT = os.path.join("docs", "variables.md")
GROUP_VARS = os.path.join("group_vars", "all", "main.yml")
# A group_vars default longer than this (as one line of YAML) is shown in full below the table.
SHORT = 60
TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):(.*)$")
SECTION = re.compile(r"^#\s*---\s*(.*?)\s*-*\s*$")


class _Loader(yaml.SafeLoader):
    """Reads the group_vars' !unsafe values as plain strings."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _load(path):
    with open(path) as stream:
        return yaml.load(stream, Loader=_Loader) or {}


def _flow(value):
    """A value as one line of YAML."""
    if isinstance(value, str) and value == "":
        return '""'
    text = yaml.safe_dump(value, default_flow_style=True, width=10 ** 6, sort_keys=False, allow_unicode=True).strip()
    return text[:-len("...")].strip() if text.endswith("\n...") else text


def _code(text):
    return "`" + text.replace("|", "\\|") + "`"


def _cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def _comment_text(lines):
    return " ".join(line.lstrip("#").strip() for line in lines).strip()


def commented_keys(path):
    """Read a YAML file's top-level keys with their comments, in file order.

    Returns (intro, keys): intro is the file's leading comment lines not attached to a key
    (paragraphs, as lists of lines); keys is [{name, comment, inline, section, source}], where
    comment is the contiguous comment lines just above the key, inline the comment on its own
    line, section the last "# --- X ---" header before it, source the key's lines as written."""
    with open(path) as stream:
        lines = stream.read().splitlines()
    intro, keys, block, section, seen_key = [], [], [], None, False
    index = 0
    while index < len(lines):
        line = lines[index]
        match = TOP_KEY.match(line)
        if line.strip() == "---":
            pass
        elif SECTION.match(line) and line.startswith("#"):
            section = SECTION.match(line).group(1)
            block = []
        elif line.startswith("#"):
            block.append(line)
        elif not line.strip():
            if block and not seen_key:
                intro.append(block)
            block = []
        elif match:
            seen_key = True
            source = [line]
            while index + 1 < len(lines) and lines[index + 1].startswith((" ", "\t")):
                index += 1
                source.append(lines[index])
            inline = ""
            rest = match.group(2)
            if " #" in rest and not rest.strip().startswith(("'", '"')):
                inline = rest.split(" #", 1)[1].strip()
            keys.append({"name": match.group(1), "comment": _comment_text(block), "inline": inline,
                         "section": section, "source": source})
            block = []
        index += 1
    return [_comment_text(paragraph) for paragraph in intro], keys


def _type(spec):
    kind = spec.get("type", "str")
    if kind == "list" and spec.get("elements"):
        kind = f"list of {spec['elements']}"
    if spec.get("choices"):
        kind += " (" + ", ".join(str(choice) for choice in spec["choices"]) + ")"
    return kind + (", required" if spec.get("required") else "")


def role_options(root, role):
    """{entry points: [(name, short_description)], options: [(name, spec)]} of a role's argument
    specs, each option once (its first entry point's spec)."""
    specs = _load(os.path.join(root, "roles", role, "meta", "argument_specs.yml")).get("argument_specs") or {}
    entry_points, options, seen = [], [], set()
    for entry, spec in specs.items():
        entry_points.append((entry, spec.get("short_description", "")))
        for name, option in (spec.get("options") or {}).items():
            if name not in seen:
                seen.add(name)
                options.append((name, option or {}))
    return {"entry_points": entry_points, "options": options}


def role_defaults(root, role):
    """(values, comments by name, intro paragraphs) of roles/<role>/defaults/main.yml."""
    path = os.path.join(root, "roles", role, "defaults", "main.yml")
    if not os.path.exists(path):
        return {}, {}, []
    intro, keys = commented_keys(path)
    return _load(path), {key["name"]: key for key in keys}, intro


def roles(root):
    return sorted(name for name in os.listdir(os.path.join(root, "roles"))
                  if os.path.exists(os.path.join(root, "roles", name, "meta", "argument_specs.yml")))


def _role_section(root, role, group_vars):
    found = role_options(root, role)
    values, comments, intro = role_defaults(root, role)
    out = [f"## Role `{role}`", ""]
    out.append("Entry points: " + "; ".join(f"`{entry}` ({description.rstrip('.')})"
                                            for entry, description in found["entry_points"]) + ".")
    out.append("")
    for paragraph in intro:
        out += [f"From `roles/{role}/defaults/main.yml`: {paragraph}", ""]
    if not found["options"]:
        return out + ["No options.", ""]
    out += ["| Variable | Type | Default | Description |", "|---|---|---|---|"]
    for name, spec in found["options"]:
        description = spec.get("description", "")
        description = " ".join(description) if isinstance(description, list) else str(description)
        if name in values:
            default = _code(_flow(values[name]))
            note = comments[name]["comment"]
            if comments[name]["inline"]:
                note = (note + " Unit: " + comments[name]["inline"] + ".").strip()
            if note:
                description += f" Defaults file: {note}"
        elif name in group_vars:
            default = "group_vars (below)"
            if "default" in spec:
                default = _code(_flow(spec["default"])) + "; " + default
        elif "default" in spec:
            default = _code(_flow(spec["default"]))
        else:
            default = "none"
        out.append(f"| `{name}` | {_cell(_type(spec))} | {default} | {_cell(description)} |")
    return out + [""]


def _spec_descriptions(root):
    """{option: description} over every role's specs: the words for a group_vars variable with no
    comment of its own."""
    found = {}
    for role in roles(root):
        for name, spec in role_options(root, role)["options"]:
            found.setdefault(name, str(spec.get("description", "")))
    return found


def _group_vars_section(root):
    path = os.path.join(root, GROUP_VARS)
    values = _load(path)
    intro, keys = commented_keys(path)
    fallback = _spec_descriptions(root)
    out = ["## `group_vars/all/main.yml`: the platform's settings", ""]
    for paragraph in intro:
        out += [paragraph, ""]
    long_ones, section = [], object()
    for key in keys:
        if key["section"] != section:
            section = key["section"]
            out += [f"### {section}" if section else "### General", "",
                    "| Variable | Default | Description |", "|---|---|---|"]
        value = values.get(key["name"])
        flat = _flow(value)
        if len(flat) > SHORT:
            default = "below"
            long_ones.append(key)
        else:
            default = _code(flat)
        description = key["comment"]
        if key["inline"]:
            description = (description + " Unit: " + key["inline"] + ".").strip()
        if not description and fallback.get(key["name"]):
            description = fallback[key["name"]] + " (from the roles' argument specs)"
        out.append(f"| `{key['name']}` | {default} | {_cell(description)} |")
        if key is keys[-1] or keys[keys.index(key) + 1]["section"] != section:
            out.append("")
    if long_ones:
        out += ["### Long defaults, as written in `group_vars/all/main.yml`", ""]
        for key in long_ones:
            out += ["```yaml"] + key["source"] + ["```", ""]
    return out


def render(root=ROOT):
    """docs/variables.md as the sources say it now."""
    path = os.path.join(root, GROUP_VARS)
    group_vars = _load(path)
    out = ["# Variables", "",
           "<!-- Generated by scripts/docs_variables.py from roles/*/meta/argument_specs.yml, "
           "roles/*/defaults/main.yml and group_vars/all/main.yml. Do not edit: run "
           "`python3 scripts/docs_variables.py`. -->", "",
           "Every option of every role, and every setting of `group_vars/all/main.yml`. "
           "A role's table lists each option of its argument specs once, over all its entry points. "
           "The default is what a run gets when nobody sets it: the role's `defaults/main.yml`, "
           "else `group_vars/all/main.yml` (listed below the roles), else the argument spec's default. "
           "\"Defaults file:\" quotes the comment above the variable in `defaults/main.yml` (units, reasons).", "",
           "Operator answers (`rollback_confirm`, `rollback_accept_orphans`, `finish_confirm`, `reset_confirm`, "
           "`reset_force`, `install_keep_data`) are read with `| bool`: `true` and `yes` both work.", "",
           "Roles: " + ", ".join(f"[`{role}`](#role-{role})" for role in roles(root))
           + ", [group_vars](#group_varsallmainyml-the-platforms-settings).", ""]
    for role in roles(root):
        out += _role_section(root, role, group_vars)
    out += _group_vars_section(root)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def main(argv):
    check = "--check" in argv[1:]
    unknown = [arg for arg in argv[1:] if arg != "--check"]
    if unknown:
        print(f"usage: python3 scripts/docs_variables.py [--check] (unknown: {' '.join(unknown)})", file=sys.stderr)
        return 2
    text = render(ROOT)
    path = os.path.join(ROOT, OUTPUT)
    if check:
        try:
            with open(path) as stream:
                current = stream.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{OUTPUT} is out of date (the roles' argument specs, defaults or group_vars changed): "
                  "run python3 scripts/docs_variables.py and commit the result", file=sys.stderr)
            return 1
        print(f"{OUTPUT} is up to date")
        return 0
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as stream:
        stream.write(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
