//! Module loading and item-level name resolution: reads the main file and every file it `use`s
//! (the standard library is embedded), and builds each module's table of callable functions,
//! reporting functions defined twice and names imported twice from different places.

use crate::diag::{Diagnostic, Diagnostics, FileId, SourceMap, Span};
use crate::syntax::{ast, parse_module};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The standard library, embedded at build time: (module name, source).
pub const STDLIB: &[(&str, &str)] = &[
    ("cnn", include_str!("../../stdlib/cnn.sir")),
    ("nn", include_str!("../../stdlib/nn.sir")),
    ("rnn", include_str!("../../stdlib/rnn.sir")),
];

/// Names a user may not define as functions.
pub const BUILTINS: &[&str] = &[
    "zeros",
    "ones",
    "relu",
    "sigmoid",
    "tanh",
    "gelu",
    "exp",
    "rsqrt",
    "sqrt",
    "reciprocal",
    "poly",
    "poly_relu",
    "block_relu",
    "max",
    "argmax",
    "sum",
    "mean",
    "softmax",
    "layernorm",
    "conv2d",
    "maxpool2d",
    "avgpool2d",
    "reshape",
    "flatten",
    "transpose",
    "concat",
];

/// A function definition: module index and item index within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FnRef {
    pub module: usize,
    pub item: usize,
}

/// Every module of a program and what each can call.
pub struct Program {
    pub sources: SourceMap,
    pub modules: Vec<ast::Module>,
    /// Whether a module is the standard library's (no unused-name warnings there).
    pub is_std: Vec<bool>,
    /// Per module: callable name → definition.
    pub scopes: Vec<HashMap<String, FnRef>>,
    /// The module holding the model (the file given by the user).
    pub main: usize,
}

impl Program {
    /// Whether a function of this name failed to parse somewhere (calls to it are not reported).
    pub fn is_broken_fn(&self, name: &str) -> bool {
        self.modules.iter().any(|m| {
            m.broken
                .iter()
                .any(|b| matches!(b, ast::BrokenItem::Fn(n) if n == name))
        })
    }

    pub fn fn_def(&self, f: FnRef) -> &ast::FnDef {
        match &self.modules[f.module].items[f.item] {
            ast::Item::Fn(d) => d,
            // FnRefs are only built for Fn items.
            _ => unreachable!("FnRef to a non-fn item"),
        }
    }

    /// The model of the main module, if there is exactly one.
    pub fn model(&self) -> Option<&ast::ModelDef> {
        self.modules[self.main].items.iter().find_map(|i| match i {
            ast::Item::Model(m) => Some(m),
            _ => None,
        })
    }
}

/// How source files are read; tests use an in-memory map.
pub trait FileSource: Sync {
    fn read(&self, path: &Path) -> std::io::Result<String>;
}

/// The real file system.
pub struct Disk;

impl FileSource for Disk {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

impl FileSource for HashMap<PathBuf, String> {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        self.get(path)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
    }
}

enum Key {
    Std(String),
    File(PathBuf),
}

/// Loads `main_source` (shown as `main_name`, whose `use "…"` paths are relative to `dir`) and
/// everything it uses.
pub fn load(
    main_name: &str,
    main_source: String,
    dir: &Path,
    fs: &dyn FileSource,
    diags: &mut Diagnostics,
) -> Program {
    let mut loader = Loader {
        fs,
        sources: SourceMap::new(),
        modules: Vec::new(),
        is_std: Vec::new(),
        dirs: Vec::new(),
        keys: HashMap::new(),
        uses: Vec::new(),
    };
    let main = loader.add(
        main_name.to_string(),
        main_source,
        dir.to_path_buf(),
        false,
        diags,
    );
    let mut next = 0;
    while next < loader.modules.len() {
        loader.follow_uses(next, diags);
        next += 1;
    }
    let Loader {
        sources,
        modules,
        is_std,
        uses,
        ..
    } = loader;
    let mut prog = Program {
        sources,
        modules,
        is_std,
        scopes: Vec::new(),
        main,
    };
    build_scopes(&mut prog, &uses, diags);
    check_models(&prog, diags);
    prog
}

struct Loader<'a> {
    fs: &'a dyn FileSource,
    sources: SourceMap,
    modules: Vec<ast::Module>,
    is_std: Vec<bool>,
    dirs: Vec<PathBuf>,
    keys: HashMap<String, usize>,
    /// Per module: (the `use` item's span, the module it names).
    uses: Vec<Vec<(Span, usize)>>,
}

impl Loader<'_> {
    fn add(
        &mut self,
        name: String,
        source: String,
        dir: PathBuf,
        std: bool,
        diags: &mut Diagnostics,
    ) -> usize {
        let file: FileId = self.sources.add(name, source);
        let module = parse_module(file, self.sources.source(file), diags);
        self.modules.push(module);
        self.is_std.push(std);
        self.dirs.push(dir);
        self.uses.push(Vec::new());
        self.modules.len() - 1
    }

    fn key_string(key: &Key) -> String {
        match key {
            Key::Std(m) => format!("std::{m}"),
            Key::File(p) => p.display().to_string(),
        }
    }

    fn follow_uses(&mut self, m: usize, diags: &mut Diagnostics) {
        let uses: Vec<ast::Use> = self.modules[m]
            .items
            .iter()
            .filter_map(|i| match i {
                ast::Item::Use(u) => Some(u.clone()),
                _ => None,
            })
            .collect();
        for u in uses {
            let target = match &u.target {
                ast::UseTarget::Std { root, module } => {
                    if root.name != "std" {
                        diags.push(
                            Diagnostic::error(
                                "E0101",
                                format!("unknown module root `{}`", root.name),
                                root.span,
                                "expected `std`",
                            )
                            .with_help(
                                "library modules are `std::NAME`; files are `use \"path.sir\";`",
                            ),
                        );
                        continue;
                    }
                    let Some((_, src)) = STDLIB.iter().find(|(n, _)| *n == module.name) else {
                        let names: Vec<String> =
                            STDLIB.iter().map(|(n, _)| format!("std::{n}")).collect();
                        diags.push(
                            Diagnostic::error(
                                "E0101",
                                format!("no standard library module `std::{}`", module.name),
                                module.span,
                                "unknown module",
                            )
                            .with_help(format!("the standard library has {}", names.join(", "))),
                        );
                        continue;
                    };
                    let key = Key::Std(module.name.clone());
                    self.module_for(
                        key,
                        || {
                            (
                                format!("std/{}.sir", module.name),
                                Ok(src.to_string()),
                                PathBuf::new(),
                                true,
                            )
                        },
                        diags,
                    )
                }
                ast::UseTarget::File { path, span } => {
                    let full = self.dirs[m].join(path);
                    let canon = full.canonicalize().unwrap_or_else(|_| full.clone());
                    let name = full.display().to_string();
                    let read = self.fs.read(&full);
                    let dir = full.parent().map(Path::to_path_buf).unwrap_or_default();
                    match read {
                        Ok(src) => {
                            self.module_for(Key::File(canon), || (name, Ok(src), dir, false), diags)
                        }
                        Err(e) => {
                            diags.push(
                                Diagnostic::error("E0102", format!("cannot read `{path}`: {e}"), *span, format!("looked for {name}"))
                                    .with_help("paths in `use \"…\";` are relative to the file that contains the `use`"),
                            );
                            continue;
                        }
                    }
                }
            };
            self.uses[m].push((u.span, target));
        }
    }

    fn module_for(
        &mut self,
        key: Key,
        make: impl FnOnce() -> (String, std::io::Result<String>, PathBuf, bool),
        diags: &mut Diagnostics,
    ) -> usize {
        let k = Self::key_string(&key);
        if let Some(&i) = self.keys.get(&k) {
            return i;
        }
        let (name, src, dir, std) = make();
        let i = self.add(name, src.unwrap_or_default(), dir, std, diags);
        self.keys.insert(k, i);
        i
    }
}

fn build_scopes(prog: &mut Program, uses: &[Vec<(Span, usize)>], diags: &mut Diagnostics) {
    let mut scopes = Vec::new();
    for (m, module) in prog.modules.iter().enumerate() {
        let mut scope: HashMap<String, (FnRef, Span)> = HashMap::new();
        for (i, item) in module.items.iter().enumerate() {
            let ast::Item::Fn(f) = item else { continue };
            if BUILTINS.contains(&f.name.name.as_str()) {
                diags.push(
                    Diagnostic::error(
                        "E0206",
                        format!("`{}` is a builtin and cannot be redefined", f.name.name),
                        f.name.span,
                        "builtin name",
                    )
                    .with_help("choose another name for this function"),
                );
                continue;
            }
            if let Some((_, first)) = scope.get(&f.name.name) {
                diags.push(crate::diag::defined_twice(
                    &format!("function `{}`", f.name.name),
                    "defined",
                    f.name.span,
                    *first,
                    "rename one of them",
                ));
                continue;
            }
            scope.insert(
                f.name.name.clone(),
                (FnRef { module: m, item: i }, f.name.span),
            );
        }
        let own: HashMap<String, (FnRef, Span)> = scope.clone();
        for &(use_span, target) in &uses[m] {
            if target == m {
                continue;
            }
            for (i, item) in prog.modules[target].items.iter().enumerate() {
                let ast::Item::Fn(f) = item else { continue };
                let r = FnRef {
                    module: target,
                    item: i,
                };
                match scope.get(&f.name.name) {
                    Some((existing, _)) if *existing == r => {}
                    Some((existing, first_span)) => {
                        let (msg, code) = if own.contains_key(&f.name.name) {
                            (
                                format!("`{}` is defined here and also imported", f.name.name),
                                "E0203",
                            )
                        } else {
                            (
                                format!(
                                    "`{}` is imported twice from different places",
                                    f.name.name
                                ),
                                "E0203",
                            )
                        };
                        let first_label = if existing.module == m {
                            "defined here"
                        } else {
                            "first imported from here"
                        };
                        diags.push(
                            Diagnostic::error(
                                code,
                                msg,
                                use_span,
                                format!("this `use` also brings `{}`", f.name.name),
                            )
                            .with_secondary(*first_span, first_label)
                            .with_secondary(f.name.span, "the other definition")
                            .with_help("rename one of the functions"),
                        );
                    }
                    None => {
                        scope.insert(f.name.name.clone(), (r, use_span));
                    }
                }
            }
        }
        scopes.push(scope.into_iter().map(|(k, (r, _))| (k, r)).collect());
    }
    prog.scopes = scopes;
}

fn check_models(prog: &Program, diags: &mut Diagnostics) {
    for (m, module) in prog.modules.iter().enumerate() {
        let models: Vec<&ast::ModelDef> = module
            .items
            .iter()
            .filter_map(|i| match i {
                ast::Item::Model(md) => Some(md),
                _ => None,
            })
            .collect();
        if m != prog.main {
            for md in models {
                diags.push(
                    Diagnostic::error("E0105", "a used file cannot define a model", md.name.span, "model in an imported file")
                        .with_help("keep the model in the file you compile and only functions in files it uses"),
                );
            }
            continue;
        }
        if models.is_empty() && module.broken.is_empty() {
            let file = module.file;
            let len = prog.sources.source(file).len();
            diags.push(
                Diagnostic::error(
                    "E0103",
                    "no `model` in this file",
                    Span::new(file, len, len),
                    "expected a `model NAME { ... }`",
                )
                .with_help("a compiled file has exactly one `model` block: the entry point"),
            );
        }
        for extra in models.iter().skip(1) {
            diags.push(
                Diagnostic::error(
                    "E0104",
                    "more than one `model` in a file",
                    extra.name.span,
                    "second model",
                )
                .with_secondary(models[0].name.span, "first model here")
                .with_help(
                    "a compiled file has exactly one `model`; move the other into its own file",
                ),
            );
        }
    }
}
