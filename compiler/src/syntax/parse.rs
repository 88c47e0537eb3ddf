//! Source text → [`ast::Module`]. A file that fails to parse as a whole is split at top-level
//! item boundaries and each item is parsed on its own, so one syntax error per item is reported
//! rather than only the first of the file.

use super::ast::*;
use crate::diag::{Diagnostic, Diagnostics, FileId, Span};
use pest::Parser;
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::sync::LazyLock;

#[derive(pest_derive::Parser)]
#[grammar = "syntax/grammar.pest"]
struct SirParser;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
        .op(Op::infix(Rule::mul, Assoc::Left)
            | Op::infix(Rule::div, Assoc::Left)
            | Op::infix(Rule::matmul, Assoc::Left))
        .op(Op::prefix(Rule::neg))
});

/// Parses one file. Syntax errors go to `diags`; the items that parsed are returned either way.
pub fn parse_module(file: FileId, source: &str, diags: &mut Diagnostics) -> Module {
    if let Some(d) = too_deep(file, source) {
        diags.push(d);
        return Module {
            file,
            items: Vec::new(),
            broken: vec![BrokenItem::Other, BrokenItem::Model],
        };
    }
    let mut module = parse_items(file, source, diags);
    limit_expression_depth(&mut module, diags);
    module
}

/// Brackets nested deeper than this are refused before parsing: the parser and the checker
/// recurse once per level.
const MAX_NESTING: usize = 256;
/// Longest run of unary minus signs, for the same reason.
const MAX_PREFIX_RUN: usize = 256;
/// Deepest expression tree (a chain `a + b + …` is one level per operator) the checker accepts.
pub const MAX_EXPR_DEPTH: usize = 2048;

fn nesting_error(file: FileId, at: usize, what: &str, limit: usize) -> Diagnostic {
    Diagnostic::error(
        "E0003",
        format!("{what} nested more than {limit} deep"),
        Span::new(file, at, at + 1),
        "too deep here",
    )
    .with_help("split the expression or block into smaller `let` bindings or functions")
}

/// Finds bracket nesting or unary-minus runs beyond the limits, skipping comments and strings.
fn too_deep(file: FileId, src: &str) -> Option<Diagnostic> {
    let (mut depth, mut minus_run) = (0usize, 0usize);
    for (i, c) in code_bytes(src) {
        match c {
            b'{' | b'(' | b'[' => {
                depth += 1;
                minus_run = 0;
                if depth > MAX_NESTING {
                    return Some(nesting_error(file, i, "brackets", MAX_NESTING));
                }
            }
            b'}' | b')' | b']' => {
                depth = depth.saturating_sub(1);
                minus_run = 0;
            }
            b'-' => {
                minus_run += 1;
                if minus_run > MAX_PREFIX_RUN {
                    return Some(nesting_error(file, i, "unary minus signs", MAX_PREFIX_RUN));
                }
            }
            c if c.is_ascii_whitespace() => {}
            _ => minus_run = 0,
        }
    }
    None
}

/// Refuses items holding an expression deeper than [`MAX_EXPR_DEPTH`] (walked without recursion).
fn limit_expression_depth(module: &mut Module, diags: &mut Diagnostics) {
    let mut broken = Vec::new();
    module.items.retain(|item| {
        let (name, body) = match item {
            Item::Fn(f) => (BrokenItem::Fn(f.name.name.clone()), &f.body),
            Item::Model(m) => (BrokenItem::Model, &m.body),
            Item::Use(_) => return true,
        };
        let mut blocks = vec![body];
        let mut roots: Vec<&Expr> = Vec::new();
        while let Some(b) = blocks.pop() {
            for s in &b.stmts {
                roots.extend(s.attrs.iter().flat_map(|a| a.args.iter()));
                match &s.kind {
                    StmtKind::Let { value, .. }
                    | StmtKind::Assign { value, .. }
                    | StmtKind::Output { value, .. }
                    | StmtKind::Return(value) => roots.push(value),
                    StmtKind::For { lo, hi, body, .. } => {
                        roots.push(lo);
                        roots.push(hi);
                        blocks.push(body);
                    }
                    StmtKind::Input { .. } | StmtKind::Param { .. } => {}
                }
            }
        }
        let mut stack: Vec<(&Expr, usize)> = roots.into_iter().map(|e| (e, 1)).collect();
        while let Some((e, d)) = stack.pop() {
            if d > MAX_EXPR_DEPTH {
                diags.push(
                    Diagnostic::error(
                        "E0003",
                        format!("expression nested more than {MAX_EXPR_DEPTH} deep"),
                        e.span,
                        "too deep",
                    )
                    .with_help("split the expression into smaller `let` bindings"),
                );
                broken.push(name);
                return false;
            }
            match &e.kind {
                ExprKind::Number { .. } | ExprKind::Name(_) => {}
                ExprKind::Neg(a) => stack.push((a, d + 1)),
                ExprKind::Binary(_, a, b) => {
                    stack.push((a, d + 1));
                    stack.push((b, d + 1));
                }
                ExprKind::Call { args, .. } => stack.extend(args.iter().map(|a| match a {
                    Arg::Positional(x) | Arg::Keyword(_, x) => (x, d + 1),
                })),
                ExprKind::Index { base, items } => {
                    stack.push((base, d + 1));
                    for it in items {
                        match it {
                            IndexItem::Index(x) => stack.push((x, d + 1)),
                            IndexItem::Range { lo, hi, .. } => {
                                stack.extend(lo.iter().chain(hi.iter()).map(|x| (x, d + 1)))
                            }
                            IndexItem::Full(_) => {}
                        }
                    }
                }
                ExprKind::List(xs) | ExprKind::Tuple(xs) => {
                    stack.extend(xs.iter().map(|x| (x, d + 1)))
                }
            }
        }
        true
    });
    module.broken.extend(broken);
}

fn parse_items(file: FileId, source: &str, diags: &mut Diagnostics) -> Module {
    let mut b = Builder {
        file,
        offset: 0,
        diags,
    };
    match SirParser::parse(Rule::file, source) {
        Ok(mut pairs) => {
            let items = pairs
                .next()
                .map(|p| p.into_inner().filter_map(|p| b.item(p)).collect())
                .unwrap_or_default();
            Module {
                file,
                items,
                broken: Vec::new(),
            }
        }
        Err(_) => {
            let mut items = Vec::new();
            let mut broken = Vec::new();
            for (start, end) in split_items(source) {
                let chunk = &source[start..end];
                b.offset = start;
                match SirParser::parse(Rule::item_only, chunk) {
                    Ok(mut pairs) => {
                        if let Some(p) = pairs.next() {
                            items.extend(p.into_inner().filter_map(|p| b.item(p)));
                        }
                    }
                    Err(e) => {
                        b.diags.push(syntax_error(file, start, chunk, &e));
                        broken.push(broken_item(chunk));
                    }
                }
            }
            Module {
                file,
                items,
                broken,
            }
        }
    }
}

/// Byte ranges of the top-level items: a chunk ends at a `;` or a closing `}` at nesting depth
/// zero, with comments and string literals skipped. Chunks holding only trivia are dropped.
/// The bytes of `src` outside comments, with their positions; a string literal shows up as its
/// opening `"` only. The splitter and the nesting check look at code through it.
fn code_bytes(src: &str) -> impl Iterator<Item = (usize, u8)> + '_ {
    let bytes = src.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let at = i;
            match bytes[i] {
                b'/' if bytes.get(i + 1) == Some(&b'/') => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                b'/' if bytes.get(i + 1) == Some(&b'*') => {
                    i += 2;
                    while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/'))
                    {
                        i += 1;
                    }
                    i += 2;
                }
                b'"' => {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                        i += 1;
                    }
                    i += 1;
                    return Some((at, b'"'));
                }
                c => {
                    i += 1;
                    return Some((at, c));
                }
            }
        }
        None
    })
}

fn split_items(src: &str) -> Vec<(usize, usize)> {
    let mut chunks = Vec::new();
    let (mut depth, mut start) = (0i64, 0usize);
    let mut has_code = false;
    for (i, c) in code_bytes(src) {
        match c {
            b'{' | b'(' | b'[' => {
                has_code = true;
                depth += 1;
            }
            b'}' | b')' | b']' => {
                has_code = true;
                depth -= 1;
                if depth <= 0 && c == b'}' {
                    depth = 0;
                    chunks.push((start, i + 1));
                    start = i + 1;
                    has_code = false;
                }
            }
            b';' if depth <= 0 => {
                depth = 0;
                chunks.push((start, i + 1));
                start = i + 1;
                has_code = false;
            }
            c if !c.is_ascii_whitespace() => has_code = true,
            _ => {}
        }
    }
    if has_code {
        chunks.push((start, src.len()));
    }
    chunks
}

/// What an item that failed to parse seems to be, so later passes do not report its absence.
fn broken_item(chunk: &str) -> BrokenItem {
    let code: String = code_bytes(chunk).map(|(_, c)| c as char).collect();
    let mut words = code
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty());
    match words.next() {
        Some("fn") => BrokenItem::Fn(words.next().unwrap_or_default().to_string()),
        Some("model") => BrokenItem::Model,
        _ => BrokenItem::Other,
    }
}

fn syntax_error(
    file: FileId,
    offset: usize,
    chunk: &str,
    e: &pest::error::Error<Rule>,
) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let (start, end) = match e.location {
        InputLocation::Pos(p) => (p, p),
        InputLocation::Span((a, b)) => (a, b),
    };
    let found = chunk[start.min(chunk.len())..]
        .split(|c: char| c.is_whitespace())
        .next()
        .filter(|s| !s.is_empty())
        .map(|s| {
            let s: String = s.chars().take(20).collect();
            format!("`{s}`")
        })
        .unwrap_or_else(|| "end of input".to_string());
    // Point at the offending token rather than at an empty position.
    let token_len = if found == "end of input" {
        0
    } else {
        chunk[start..].chars().next().map_or(0, char::len_utf8)
    };
    let span = Span::new(file, offset + start, offset + end.max(start + token_len));
    let expected = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().filter_map(|r| rule_name(*r)).collect();
            names.sort_unstable();
            names.dedup();
            names
        }
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let label = match expected.len() {
        0 => "unexpected here".to_string(),
        1 => format!("expected {}", expected[0]),
        _ => format!("expected one of {}", expected.join(", ")),
    };
    if expected.contains(&"`;`") {
        // Point just after the previous token, where the `;` belongs.
        let before = chunk[..start.min(chunk.len())].trim_end();
        let at = Span::new(file, offset + before.len(), offset + before.len());
        return Diagnostic::error(
            "E0001",
            format!("syntax error: expected `;`, found {found}"),
            at,
            "expected `;` here",
        )
        .with_secondary(span, "unexpected here")
        .with_help("every statement ends with `;`");
    }
    let mut d = Diagnostic::error(
        "E0001",
        format!("syntax error: unexpected {found}"),
        span,
        label,
    );
    let help = if found == "end of input" && expected.contains(&"`}`") {
        "a block opened with `{` is never closed"
    } else if found.starts_with("`#") || found.starts_with("`!") || found.starts_with("`%") {
        "`.sir` has no such operator; see docs/language.md"
    } else if expected.contains(&"an expression") {
        "an operator or `=` needs an expression after it"
    } else {
        "see docs/language.md for the syntax of `.sir`"
    };
    d = d.with_help(help);
    d
}

/// How a grammar rule is named in "expected …" messages; `None` hides it.
fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident => "an identifier",
        Rule::number => "a number",
        Rule::string => "a string",
        Rule::expr | Rule::postfix | Rule::call | Rule::list | Rule::paren => "an expression",
        Rule::use_item | Rule::kw_use => "`use`",
        Rule::fn_item | Rule::kw_fn => "`fn`",
        Rule::model_item | Rule::kw_model => "`model`",
        Rule::stmt
        | Rule::input_decl
        | Rule::param_decl
        | Rule::let_stmt
        | Rule::for_stmt
        | Rule::output_stmt
        | Rule::return_stmt
        | Rule::assign_stmt => "a statement",
        Rule::kw_input => "`input`",
        Rule::kw_param => "`param`",
        Rule::kw_let => "`let`",
        Rule::kw_for => "`for`",
        Rule::kw_in => "`in`",
        Rule::kw_output => "`output`",
        Rule::kw_return => "`return`",
        Rule::kw_mut => "`mut`",
        Rule::shape | Rule::tuple_type => "a shape like `[N, 4]`",
        Rule::attr => "an attribute",
        Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::matmul => "an operator",
        Rule::index => "`[`",
        Rule::range => "a range",
        Rule::EOI => "end of file",
        Rule::semi => "`;`",
        Rule::rbrace => "`}`",
        Rule::std_path => "`std::module`",
        Rule::block => "`{`",
        Rule::kwarg => "a keyword argument",
        Rule::binder | Rule::tuple_pat => "a name",
        _ => return None,
    })
}

struct Builder<'d> {
    file: FileId,
    offset: usize,
    diags: &'d mut Diagnostics,
}

impl Builder<'_> {
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.file, self.offset + s.start(), self.offset + s.end())
    }

    fn ident(&self, p: Pair<Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn item(&mut self, p: Pair<Rule>) -> Option<Item> {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::use_item => {
                let target = p
                    .into_inner()
                    .find(|q| matches!(q.as_rule(), Rule::std_path | Rule::string))?;
                let t = match target.as_rule() {
                    Rule::std_path => {
                        let mut it = target.into_inner();
                        let root = self.ident(it.next()?);
                        let module = self.ident(it.next()?);
                        UseTarget::Std { root, module }
                    }
                    _ => {
                        let s = target.as_str();
                        UseTarget::File {
                            path: s[1..s.len() - 1].to_string(),
                            span: self.span(&target),
                        }
                    }
                };
                Some(Item::Use(Use { target: t, span }))
            }
            Rule::fn_item => {
                let mut it = p.into_inner().skip(1);
                let name = self.ident(it.next()?);
                let mut params = Vec::new();
                let mut ret = None;
                let mut body = None;
                for q in it {
                    match q.as_rule() {
                        Rule::fn_param => {
                            let mut pi = q.into_inner();
                            let pname = self.ident(pi.next()?);
                            let shape = self.shape(pi.next()?);
                            params.push(FnParam { name: pname, shape });
                        }
                        Rule::shape => ret = Some(RetType::Single(self.shape(q))),
                        Rule::tuple_type => {
                            let s = self.span(&q);
                            ret = Some(RetType::Tuple(
                                q.into_inner().map(|x| self.shape(x)).collect(),
                                s,
                            ));
                        }
                        Rule::block => body = Some(self.block(q)),
                        _ => {}
                    }
                }
                Some(Item::Fn(FnDef {
                    name,
                    params,
                    ret: ret?,
                    body: body?,
                    span,
                }))
            }
            Rule::model_item => {
                let mut it = p.into_inner().skip(1);
                let name = self.ident(it.next()?);
                let body = self.block(it.next()?);
                Some(Item::Model(ModelDef { name, body, span }))
            }
            _ => None,
        }
    }

    fn shape(&mut self, p: Pair<Rule>) -> ShapeAnn {
        let span = self.span(&p);
        let dims = p
            .into_inner()
            .map(|d| match d.as_rule() {
                Rule::number => {
                    let s = self.span(&d);
                    let v = d.as_str().parse::<usize>().ok();
                    if v.is_none() {
                        self.diags.push(
                            Diagnostic::error(
                                "E0002",
                                "invalid extent in a shape",
                                s,
                                "not a non-negative integer",
                            )
                            .with_help("extents are integers such as `16`"),
                        );
                    }
                    DimAnn::Lit(v, s)
                }
                _ => DimAnn::Var(self.ident(d)),
            })
            .collect();
        ShapeAnn { dims, span }
    }

    fn block(&mut self, p: Pair<Rule>) -> Block {
        let span = self.span(&p);
        let stmts = p
            .into_inner()
            .filter(|s| s.as_rule() == Rule::stmt)
            .filter_map(|s| self.stmt(s))
            .collect();
        Block { stmts, span }
    }

    fn stmt(&mut self, p: Pair<Rule>) -> Option<Stmt> {
        let span = self.span(&p);
        let mut attrs = Vec::new();
        let mut kind = None;
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::attr => {
                    for item in q.into_inner() {
                        let aspan = self.span(&item);
                        let mut ii = item.into_inner();
                        let name = self.ident(ii.next()?);
                        let args = ii.map(|e| self.expr(e)).collect();
                        attrs.push(Attr {
                            name,
                            args,
                            span: aspan,
                        });
                    }
                }
                _ => kind = Some(self.stmt_kind(q)?),
            }
        }
        Some(Stmt {
            attrs,
            kind: kind?,
            span,
        })
    }

    fn stmt_kind(&mut self, p: Pair<Rule>) -> Option<StmtKind> {
        let rule = p.as_rule();
        let mut it = p.into_inner().filter(|q| {
            !matches!(
                q.as_rule(),
                Rule::kw_input
                    | Rule::kw_param
                    | Rule::kw_let
                    | Rule::kw_for
                    | Rule::kw_in
                    | Rule::kw_output
                    | Rule::kw_return
                    | Rule::semi
            )
        });
        Some(match rule {
            Rule::input_decl | Rule::param_decl => {
                let name = self.ident(it.next()?);
                let shape = self.shape(it.next()?);
                if rule == Rule::input_decl {
                    StmtKind::Input { name, shape }
                } else {
                    StmtKind::Param { name, shape }
                }
            }
            Rule::let_stmt => {
                let pat = it.next()?;
                let pattern = match pat.as_rule() {
                    Rule::tuple_pat => {
                        let s = self.span(&pat);
                        Pattern::Tuple(pat.into_inner().filter_map(|b| self.binder(b)).collect(), s)
                    }
                    _ => Pattern::Single(self.binder(pat)?),
                };
                let value = self.expr(it.next()?);
                StmtKind::Let { pattern, value }
            }
            Rule::assign_stmt => {
                let t = it.next()?;
                let (targets, tuple) = match t.as_rule() {
                    Rule::tuple_target => (t.into_inner().map(|x| self.ident(x)).collect(), true),
                    _ => (vec![self.ident(t)], false),
                };
                let value = self.expr(it.next()?);
                StmtKind::Assign {
                    targets,
                    tuple,
                    value,
                }
            }
            Rule::for_stmt => {
                let var = self.ident(it.next()?);
                let lo = self.expr(it.next()?);
                let hi = self.expr(it.next()?);
                let body = self.block(it.next()?);
                StmtKind::For { var, lo, hi, body }
            }
            Rule::output_stmt => {
                let first = it.next()?;
                if first.as_rule() == Rule::output_name {
                    let name = self.ident(first.into_inner().next()?);
                    StmtKind::Output {
                        name: Some(name),
                        value: self.expr(it.next()?),
                    }
                } else {
                    StmtKind::Output {
                        name: None,
                        value: self.expr(first),
                    }
                }
            }
            Rule::return_stmt => StmtKind::Return(self.expr(it.next()?)),
            _ => return None,
        })
    }

    fn binder(&mut self, p: Pair<Rule>) -> Option<Binder> {
        let mut mutable = false;
        let mut name = None;
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::kw_mut => mutable = true,
                _ => name = Some(self.ident(q)),
            }
        }
        Some(Binder {
            mutable,
            name: name?,
        })
    }

    fn expr(&mut self, p: Pair<Rule>) -> Expr {
        let span = self.span(&p);
        let file = self.file;
        let offset = self.offset;
        let sp = |q: &Pair<Rule>| {
            let s = q.as_span();
            Span::new(file, offset + s.start(), offset + s.end())
        };
        // The Pratt closures cannot borrow `self` mutably three times; collect postfix nodes first.
        let pairs: Vec<Pair<Rule>> = p.into_inner().collect();
        let mut leaves: Vec<Option<Expr>> = Vec::new();
        for q in &pairs {
            if q.as_rule() == Rule::postfix {
                leaves.push(Some(self.postfix(q.clone())));
            }
        }
        let mut leaf_iter = leaves.into_iter();
        PRATT
            .map_primary(|_| {
                leaf_iter.next().flatten().unwrap_or(Expr {
                    kind: ExprKind::List(Vec::new()),
                    span,
                })
            })
            .map_prefix(|op, rhs| {
                let s = sp(&op).to(rhs.span);
                Expr {
                    kind: ExprKind::Neg(Box::new(rhs)),
                    span: s,
                }
            })
            .map_infix(|lhs, op, rhs| {
                let bop = match op.as_rule() {
                    Rule::add => BinOp::Add,
                    Rule::sub => BinOp::Sub,
                    Rule::mul => BinOp::Mul,
                    Rule::div => BinOp::Div,
                    _ => BinOp::MatMul,
                };
                let s = lhs.span.to(rhs.span);
                Expr {
                    kind: ExprKind::Binary(bop, Box::new(lhs), Box::new(rhs)),
                    span: s,
                }
            })
            .parse(pairs.into_iter())
    }

    fn postfix(&mut self, p: Pair<Rule>) -> Expr {
        let mut it = p.into_inner();
        let Some(first) = it.next() else {
            return Expr {
                kind: ExprKind::List(Vec::new()),
                span: Span::new(self.file, 0, 0),
            };
        };
        let mut e = self.primary(first);
        for idx in it {
            let s = e.span.to(self.span(&idx));
            let items = idx.into_inner().map(|q| self.index_item(q)).collect();
            e = Expr {
                kind: ExprKind::Index {
                    base: Box::new(e),
                    items,
                },
                span: s,
            };
        }
        e
    }

    fn index_item(&mut self, p: Pair<Rule>) -> IndexItem {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::full => IndexItem::Full(span),
            Rule::range => {
                let (mut lo, mut hi) = (None, None);
                for q in p.into_inner() {
                    let is_lo = q.as_rule() == Rule::range_lo;
                    let e = q.into_inner().next().map(|x| self.expr(x));
                    if is_lo { lo = e } else { hi = e }
                }
                IndexItem::Range { lo, hi, span }
            }
            _ => IndexItem::Index(self.expr(p)),
        }
    }

    fn primary(&mut self, p: Pair<Rule>) -> Expr {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::number => {
                let s = p.as_str();
                let integer = !s.contains(['.', 'e', 'E']);
                match s.parse::<f64>() {
                    Ok(value) if value.is_finite() => ExprKind::Number { value, integer },
                    _ => {
                        self.diags.push(
                            Diagnostic::error(
                                "E0002",
                                "number literal out of range",
                                span,
                                "too large for a 64-bit float",
                            )
                            .with_help(
                                "numbers must fit a 64-bit float (magnitude below about 1.8e308)",
                            ),
                        );
                        ExprKind::Number {
                            value: 0.0,
                            integer,
                        }
                    }
                }
            }
            Rule::ident => ExprKind::Name(self.ident(p)),
            Rule::call => {
                let mut it = p.into_inner();
                let callee = match it.next() {
                    Some(c) => self.ident(c),
                    None => {
                        return Expr {
                            kind: ExprKind::List(Vec::new()),
                            span,
                        };
                    }
                };
                let args = it
                    .map(|a| match a.as_rule() {
                        Rule::kwarg => {
                            let mut ki = a.into_inner();
                            let k = ki.next().map(|x| self.ident(x));
                            let v = ki.next().map(|x| self.expr(x));
                            match (k, v) {
                                (Some(k), Some(v)) => Arg::Keyword(k, v),
                                _ => Arg::Positional(Expr {
                                    kind: ExprKind::List(Vec::new()),
                                    span,
                                }),
                            }
                        }
                        _ => Arg::Positional(self.expr(a)),
                    })
                    .collect();
                ExprKind::Call { callee, args }
            }
            Rule::list => ExprKind::List(p.into_inner().map(|q| self.expr(q)).collect()),
            Rule::paren => {
                let mut trailing = false;
                let mut items = Vec::new();
                for q in p.into_inner() {
                    if q.as_rule() == Rule::trailing_comma {
                        trailing = true;
                    } else {
                        items.push(self.expr(q));
                    }
                }
                if items.len() == 1 && !trailing {
                    let mut e = items.pop().unwrap_or(Expr {
                        kind: ExprKind::List(Vec::new()),
                        span,
                    });
                    e.span = span;
                    return e;
                }
                ExprKind::Tuple(items)
            }
            _ => ExprKind::List(Vec::new()),
        };
        Expr { kind, span }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_items_at_depth_zero() {
        let src =
            "use std::rnn; // c\nfn f(x: []) -> [] { return x; }\n/* } */ model m { output 1; }";
        let chunks = split_items(src);
        assert_eq!(chunks.len(), 3);
        assert!(
            src[chunks[2].0..chunks[2].1]
                .trim_start()
                .starts_with("/* } */ model")
        );
    }

    #[test]
    fn precedence_matches_python() {
        let mut d = Diagnostics::default();
        let m = parse_module(0, "model m { let y = -a @ b + c * d; output y; }", &mut d);
        assert!(!d.has_errors());
        let Item::Model(md) = &m.items[0] else {
            panic!()
        };
        let StmtKind::Let { value, .. } = &md.body.stmts[0].kind else {
            panic!()
        };
        let ExprKind::Binary(BinOp::Add, l, _) = &value.kind else {
            panic!("{value:?}")
        };
        let ExprKind::Binary(BinOp::MatMul, n, _) = &l.kind else {
            panic!()
        };
        assert!(matches!(n.kind, ExprKind::Neg(_)));
    }
}
