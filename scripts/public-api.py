#!/usr/bin/env python3
"""Lists a crate's public API from its rustdoc JSON: one item a line, sorted,
so that two versions' lists diff line by line (scripts/public-api.sh makes
the JSON and calls this; docs/releasing.md says when).

    public-api.py CRATE_JSON [DEPENDENCY_JSON ...]

Items the crate re-exports from a dependency (`ivs_client::model` is
`ivs_api`'s) are listed in full when that dependency's JSON is given too.

Each item is listed once, with its details, at its shortest public path;
its other public paths get a `pub use` line each. Types are written with
full paths, the crate's own ones by their public path
(`core::option::Option<ivs_client::model::StageArn>`), so a line names
exactly one thing. Blanket impls (`impl<T> From<T> for T` ...) are left out,
since they come with the standard library, not with the crate, while auto
traits (`Send`, `Sync`, `Unpin`, ...) stay: losing one breaks users.

Reads rustdoc's JSON format v57 (Rust 1.93 to 1.97).
"""

import json
import sys

SUPPORTED_FORMATS = {57}

# Auto traits that rustdoc lists but users cannot name on stable Rust.
UNNAMEABLE = {
    "core::marker::Freeze",
    "core::marker::StructuralPartialEq",
    "core::marker::UnsafeUnpin",
}


class Doc:
    """One crate's rustdoc JSON."""

    def __init__(self, krate):
        fmt = krate.get("format_version")
        if fmt not in SUPPORTED_FORMATS:
            sys.exit(
                f"public-api.py: rustdoc JSON format v{fmt}; this script reads "
                f"v{', v'.join(map(str, sorted(SUPPORTED_FORMATS)))}: check what "
                "changed in rustdoc-types and update it"
            )
        self.index = krate["index"]
        self.paths = krate["paths"]
        self.root = str(krate["root"])
        self.name = self.index[self.root]["name"]
        # The crate's own items by path, to find what another crate
        # re-exports from this one.
        self.by_path = {
            tuple(e["path"]): i for i, e in self.paths.items() if e["crate_id"] == 0
        }

    def canonical(self, id_):
        entry = self.paths.get(str(id_))
        return "::".join(entry["path"]) if entry else None


class Api:
    def __init__(self, docs):
        self.docs = {d.name: d for d in docs}
        self.main = docs[0]
        # The crate whose item is being written: ids are per crate.
        self.doc = self.main
        self.lines = set()
        # (crate, id) -> the public paths it is reachable by.
        self.public = {}
        # canonical path -> the public path types are written with.
        self.preferred = {}
        # Modules on the current walk, so a glob re-export cycle ends.
        self.walking = set()

    @property
    def index(self):
        return self.doc.index

    @property
    def paths(self):
        return self.doc.paths

    # ---- names -----------------------------------------------------------

    def full_path(self, id_, written):
        """The public path of an item (its canonical one for another crate's
        item), or the path as the source wrote it when rustdoc has none."""
        canonical = self.doc.canonical(id_) if id_ is not None else None
        if canonical is None:
            return written
        return self.preferred.get(canonical, canonical)

    # ---- types -----------------------------------------------------------

    def ty(self, t):
        if t is None:
            return "()"
        if isinstance(t, str):
            return {"infer": "_"}.get(t, t)
        (kind, v), = t.items()
        if kind == "resolved_path":
            return self.path(v)
        if kind == "generic":
            return v
        if kind == "primitive":
            return v
        if kind == "tuple":
            inner = ", ".join(self.ty(x) for x in v)
            return f"({inner},)" if len(v) == 1 else f"({inner})"
        if kind == "slice":
            return f"[{self.ty(v)}]"
        if kind == "array":
            return f"[{self.ty(v['type'])}; {v['len']}]"
        if kind == "borrowed_ref":
            lt = f"{v['lifetime']} " if v.get("lifetime") else ""
            mut = "mut " if v["is_mutable"] else ""
            return f"&{lt}{mut}{self.ty(v['type'])}"
        if kind == "raw_pointer":
            mut = "mut" if v["is_mutable"] else "const"
            return f"*{mut} {self.ty(v['type'])}"
        if kind == "impl_trait":
            return "impl " + self.bounds(v)
        if kind == "dyn_trait":
            parts = [self.poly_trait(p) for p in v["traits"]]
            if v.get("lifetime"):
                parts.append(v["lifetime"])
            return "dyn " + " + ".join(parts)
        if kind == "qualified_path":
            self_ty = self.ty(v["self_type"])
            args = self.generic_args(v.get("args"))
            if v.get("trait"):
                return f"<{self_ty} as {self.path(v['trait'])}>::{v['name']}{args}"
            return f"{self_ty}::{v['name']}{args}"
        if kind == "function_pointer":
            return self.fn_pointer(v)
        if kind == "pat":
            return self.ty(v["type"])
        # A kind this script does not know yet: visible rather than dropped.
        return f"<{kind}?>"

    def path(self, p):
        return self.full_path(p.get("id"), p["path"]) + self.generic_args(p.get("args"))

    def generic_args(self, args):
        if not args:
            return ""
        if isinstance(args, str):
            return "(..)" if args == "return_type_notation" else ""
        (kind, v), = args.items()
        if kind == "parenthesized":
            inputs = ", ".join(self.ty(x) for x in v["inputs"])
            out = f" -> {self.ty(v['output'])}" if v.get("output") else ""
            return f"({inputs}){out}"
        parts = [self.generic_arg(a) for a in v.get("args", [])]
        for c in v.get("constraints", []):
            name = c["name"] + self.generic_args(c.get("args"))
            (bkind, b), = c["binding"].items()
            if bkind == "equality":
                if "type" in b:
                    parts.append(f"{name} = {self.ty(b['type'])}")
                else:
                    parts.append(f"{name} = {b['constant']['expr']}")
            else:
                parts.append(f"{name}: {self.bounds(b)}")
        return f"<{', '.join(parts)}>" if parts else ""

    def generic_arg(self, a):
        if isinstance(a, str):
            return "_"
        (kind, v), = a.items()
        if kind == "lifetime":
            return v
        if kind == "type":
            return self.ty(v)
        if kind == "const":
            return v.get("expr") or "_"
        return "_"

    def bounds(self, bounds):
        out = []
        for b in bounds:
            (kind, v), = b.items()
            if kind == "trait_bound":
                modifier = {"maybe": "?", "maybe_const": "~const "}.get(v.get("modifier"), "")
                hrtb = self.hrtb(v.get("generic_params", []))
                out.append(f"{hrtb}{modifier}{self.path(v['trait'])}")
            elif kind == "outlives":
                out.append(v)
            elif kind == "use":
                names = [x if isinstance(x, str) else next(iter(x.values())) for x in v]
                out.append(f"use<{', '.join(names)}>")
        return " + ".join(out)

    def poly_trait(self, p):
        return self.hrtb(p.get("generic_params", [])) + self.path(p["trait"])

    def hrtb(self, params):
        names = [p["name"] for p in params]
        return f"for<{', '.join(names)}> " if names else ""

    def fn_pointer(self, v):
        sig = v["sig"]
        inputs = ", ".join(self.ty(t) for _, t in sig["inputs"])
        out = f" -> {self.ty(sig['output'])}" if sig.get("output") else ""
        unsafe = "unsafe " if v["header"].get("is_unsafe") else ""
        return f"{self.hrtb(v.get('generic_params', []))}{unsafe}fn({inputs}){out}"

    # ---- generics and signatures ----------------------------------------

    def generics(self, g):
        """`<...>` and ` where ...`, without the parameters that `impl Trait`
        arguments introduce (the signature shows those in place)."""
        params = []
        for p in g.get("params", []):
            (kind, v), = p["kind"].items()
            if kind == "type":
                if v.get("is_synthetic"):
                    continue
                s = p["name"]
                if v.get("bounds"):
                    s += ": " + self.bounds(v["bounds"])
                if v.get("default"):
                    s += " = " + self.ty(v["default"])
            elif kind == "lifetime":
                s = p["name"]
                if v.get("outlives"):
                    s += ": " + " + ".join(v["outlives"])
            else:
                s = f"const {p['name']}: {self.ty(v['type'])}"
            params.append(s)
        preds = []
        for w in g.get("where_predicates", []):
            (kind, v), = w.items()
            if kind == "bound_predicate":
                preds.append(
                    f"{self.hrtb(v.get('generic_params', []))}{self.ty(v['type'])}: {self.bounds(v['bounds'])}"
                )
            elif kind == "lifetime_predicate":
                preds.append(f"{v['lifetime']}: {' + '.join(v['outlives'])}")
            elif kind == "eq_predicate":
                rhs = v["rhs"]
                rhs = self.ty(rhs["type"]) if "type" in rhs else rhs["constant"]["expr"]
                preds.append(f"{self.ty(v['lhs'])} = {rhs}")
        return (f"<{', '.join(params)}>" if params else ""), (
            f" where {', '.join(preds)}" if preds else ""
        )

    def function(self, name, f):
        header = f["header"]
        quals = "".join(
            q
            for q, on in (
                ("const ", header.get("is_const")),
                ("async ", header.get("is_async")),
                ("unsafe ", header.get("is_unsafe")),
            )
            if on
        )
        params, where = self.generics(f["generics"])
        args = ", ".join(self.arg(n, t) for n, t in f["sig"]["inputs"])
        out = f["sig"].get("output")
        ret = f" -> {self.ty(out)}" if out is not None else ""
        return f"pub {quals}fn {name}{params}({args}){ret}{where}"

    def arg(self, name, t):
        if name == "self":
            if t == {"generic": "Self"}:
                return "self"
            ref = t.get("borrowed_ref") if isinstance(t, dict) else None
            if ref and ref["type"] == {"generic": "Self"}:
                lt = f"{ref['lifetime']} " if ref.get("lifetime") else ""
                return f"&{lt}{'mut ' if ref['is_mutable'] else ''}self"
        return f"{name}: {self.ty(t)}"

    # ---- items -----------------------------------------------------------

    @staticmethod
    def attrs(item):
        """The attributes that change what users may do: `#[non_exhaustive]`
        and `#[must_use]`."""
        out = []
        for a in item.get("attrs", []):
            if a == "non_exhaustive":
                out.append("#[non_exhaustive] ")
            elif isinstance(a, dict) and "must_use" in a:
                out.append("#[must_use] ")
        return "".join(out)

    def add(self, line):
        self.lines.add(line)

    # ---- pass 1: who is public where -------------------------------------

    def resolve(self, doc, id_):
        """The (crate, id) that `id_` of `doc` names, following a re-export
        into a dependency's JSON; None when that JSON was not given."""
        if id_ in doc.index:
            return doc, id_
        entry = doc.paths.get(id_)
        dep = self.docs.get(entry["path"][0]) if entry else None
        dep_id = dep.by_path.get(tuple(entry["path"])) if dep else None
        if dep_id is None or dep_id not in dep.index:
            return None
        return dep, dep_id

    def collect(self, doc, mod_id, prefix):
        key = (doc.name, mod_id)
        if key in self.walking:
            return
        self.walking.add(key)
        for child in doc.index[mod_id]["inner"]["module"]["items"]:
            item = doc.index.get(str(child))
            if item is None or item.get("visibility") != "public":
                continue
            (kind, v), = item["inner"].items()
            if kind != "use":
                self.record(doc, str(child), f"{prefix}::{item['name']}")
                continue
            target = self.resolve(doc, str(v["id"])) if v.get("id") is not None else None
            if target is None:
                # Only the name is known: a re-export rustdoc did not inline,
                # from a crate whose JSON was not given.
                glob = "::*" if v["is_glob"] else f"::{v['name']}"
                self.add(f"pub use {prefix}{glob} = {v['source']}")
            elif v["is_glob"]:
                tdoc, tid = target
                if "module" in tdoc.index[tid]["inner"]:
                    self.collect(tdoc, tid, prefix)
                else:
                    self.add(f"pub use {prefix}::* = {v['source']}::*")
            else:
                self.record(*target, f"{prefix}::{v['name']}")
        self.walking.discard(key)

    def record(self, doc, id_, path):
        self.public.setdefault((doc.name, id_), set()).add(path)
        if "module" in doc.index[id_]["inner"]:
            self.collect(doc, id_, path)

    # ---- pass 2: the lines -----------------------------------------------

    @staticmethod
    def shortest(paths):
        return min(paths, key=lambda p: (p.count("::"), p))

    def write(self):
        self.collect(self.main, self.main.root, self.main.name)
        for (crate, id_), paths in self.public.items():
            canonical = self.docs[crate].canonical(id_)
            if canonical:
                self.preferred[canonical] = self.shortest(paths)
        for (crate, id_), paths in self.public.items():
            self.doc = self.docs[crate]
            item = self.index[id_]
            if "module" in item["inner"]:
                for p in paths:
                    self.add(f"pub mod {p}")
                continue
            path = self.shortest(paths)
            self.item(item, path)
            for other in paths - {path}:
                self.add(f"pub use {other} (= {path})")
        return sorted(self.lines)

    def item(self, item, path):
        (kind, v), = item["inner"].items()
        attrs = self.attrs(item)
        if kind == "struct":
            self.struct(path, attrs, v)
        elif kind == "enum":
            self.enum(path, attrs, v)
        elif kind == "union":
            params, where = self.generics(v["generics"])
            self.add(f"{attrs}pub union {path}{params}{where}")
            self.fields(path, v["fields"])
            self.impls(path, v["impls"])
        elif kind == "function":
            self.add(attrs + self.function(path, v))
        elif kind == "trait":
            self.trait(path, attrs, v)
        elif kind == "type_alias":
            params, where = self.generics(v["generics"])
            self.add(f"pub type {path}{params} = {self.ty(v['type'])}{where}")
        elif kind == "constant":
            self.add(f"pub const {path}: {self.ty(v['type'])}")
        elif kind == "static":
            mut = "mut " if v.get("is_mutable") else ""
            self.add(f"pub static {mut}{path}: {self.ty(v['type'])}")
        elif kind == "macro":
            self.add(f"pub macro {path}!")
        elif kind == "proc_macro":
            self.add(f"pub proc_macro {path}!")
        else:
            self.add(f"pub {kind} {path}")

    def struct(self, path, attrs, v):
        params, where = self.generics(v["generics"])
        kind = v["kind"]
        if kind == "unit":
            self.add(f"{attrs}pub struct {path}{params}{where};")
        elif "tuple" in kind:
            fields = []
            for f in kind["tuple"]:
                field = self.index.get(str(f)) if f is not None else None
                if field is None or field.get("visibility") != "public":
                    fields.append("_")
                else:
                    fields.append("pub " + self.ty(field["inner"]["struct_field"]))
            self.add(f"{attrs}pub struct {path}{params}({', '.join(fields)}){where}")
        else:
            self.add(f"{attrs}pub struct {path}{params}{where}")
            self.fields(path, kind["plain"]["fields"])
        self.impls(path, v["impls"])

    def fields(self, path, ids):
        for f in ids:
            field = self.index.get(str(f))
            if field and field.get("visibility") == "public":
                self.add(f"pub {path}::{field['name']}: {self.ty(field['inner']['struct_field'])}")

    def enum(self, path, attrs, v):
        params, where = self.generics(v["generics"])
        self.add(f"{attrs}pub enum {path}{params}{where}")
        for var_id in v["variants"]:
            var = self.index[str(var_id)]
            vattrs = self.attrs(var)
            vpath = f"{path}::{var['name']}"
            kind = var["inner"]["variant"]["kind"]
            if kind == "plain":
                self.add(f"{vattrs}pub {vpath}")
            elif "tuple" in kind:
                tys = [
                    self.ty(self.index[str(f)]["inner"]["struct_field"]) if f is not None else "_"
                    for f in kind["tuple"]
                ]
                self.add(f"{vattrs}pub {vpath}({', '.join(tys)})")
            else:
                self.add(f"{vattrs}pub {vpath}")
                for f in kind["struct"]["fields"]:
                    field = self.index[str(f)]
                    self.add(f"pub {vpath}::{field['name']}: {self.ty(field['inner']['struct_field'])}")
        self.impls(path, v["impls"])

    def trait(self, path, attrs, v):
        params, where = self.generics(v["generics"])
        unsafe = "unsafe " if v.get("is_unsafe") else ""
        supers = f": {self.bounds(v['bounds'])}" if v.get("bounds") else ""
        self.add(f"{attrs}pub {unsafe}trait {path}{params}{supers}{where}")
        for i in v["items"]:
            self.assoc(path, self.index[str(i)], in_trait=True)

    def assoc(self, path, item, in_trait=False):
        if not in_trait and item.get("visibility") != "public":
            return
        (kind, v), = item["inner"].items()
        name = f"{path}::{item['name']}"
        if kind == "function":
            line = self.attrs(item) + self.function(name, v)
            if in_trait and v.get("has_body"):
                line += " (provided)"
            self.add(line)
        elif kind == "assoc_const":
            self.add(f"pub const {name}: {self.ty(v['type'])}")
        elif kind == "assoc_type":
            bounds = f": {self.bounds(v['bounds'])}" if v.get("bounds") else ""
            value = f" = {self.ty(v['type'])}" if v.get("type") else ""
            self.add(f"pub type {name}{bounds}{value}")

    def impls(self, path, impl_ids):
        for i in impl_ids:
            imp = self.index[str(i)]["inner"]["impl"]
            if imp.get("blanket_impl") is not None:
                continue
            if imp.get("trait") and self.full_path(imp["trait"].get("id"), "") in UNNAMEABLE:
                continue
            if imp.get("trait") is None:
                for a in imp["items"]:
                    self.assoc(path, self.index[str(a)])
                continue
            params, where = self.generics(imp["generics"])
            neg = "!" if imp.get("is_negative") else ""
            unsafe = "unsafe " if imp.get("is_unsafe") else ""
            self.add(
                f"{unsafe}impl{params} {neg}{self.path(imp['trait'])} for {self.ty(imp['for'])}{where}"
            )


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: public-api.py CRATE_JSON [DEPENDENCY_JSON ...]")
    docs = []
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            docs.append(Doc(json.load(f)))
    for line in Api(docs).write():
        print(line)


if __name__ == "__main__":
    main()
