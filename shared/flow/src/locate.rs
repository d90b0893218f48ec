//! Field path ⇄ source position, for error messages that name the line.
//!
//! Consumes workflow source text (YAML, or JSON, which is YAML); produces a [`SourceMap`]: the
//! position of every mapping key and sequence item by its field path, the innermost field at a
//! position, and the mapping keys written twice.
//!
//! It runs on the event stream of `saphyr-parser`, a safe-Rust YAML 1.2 parser whose events
//! carry spans. `yaml_serde` (which deserializes the model) sits on `libyaml-rs`, whose API is
//! `unsafe` (forbidden in this workspace) and does not expose node positions; and serde maps
//! silently keep the last of two equal keys, so duplicates can only be seen here.

use std::collections::HashSet;
use std::fmt::Write as _;

use saphyr_parser::{Event, Marker, Parser, Span};

use crate::ValidationError;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

impl From<&str> for Seg {
    fn from(s: &str) -> Self {
        Seg::Key(s.to_owned())
    }
}

/// A field path as written in errors: `steps.notify.needs[0]`.
pub fn display_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

/// Builds a path from string keys: `path(&["steps", id, "needs"])`.
pub fn path(keys: &[&str]) -> Vec<Seg> {
    keys.iter().map(|k| Seg::from(*k)).collect()
}

/// A field and where it is written: from its key (or item) to the end of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The field path.
    pub path: Vec<Seg>,
    /// 1-based line and column where the key (or the sequence item) starts.
    pub start: (usize, usize),
    /// 1-based line and column where the value ends.
    pub end: (usize, usize),
}

/// Positions of the fields of one source text.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    nodes: Vec<Located>,
    duplicates: Vec<Located>,
}

enum Frame {
    Map {
        node: usize,
        seen: HashSet<String>,
        key: Option<(String, Marker)>,
    },
    Seq {
        node: usize,
        next: usize,
    },
}

fn pos(m: &Marker) -> (usize, usize) {
    (m.line(), m.col() + 1)
}

impl SourceMap {
    /// Reads the positions of `source`'s first document. YAML syntax errors are returned
    /// with their line and column.
    pub fn parse(source: &str) -> Result<Self, ValidationError> {
        let mut map = SourceMap::default();
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(source) {
            let (event, span) = item.map_err(|e| ValidationError {
                line: Some(e.marker().line()),
                column: Some(e.marker().col() + 1),
                field: None,
                message: format!("invalid YAML: {}", e.info()),
            })?;
            match event {
                Event::Scalar(..) | Event::Alias(_) => {
                    if let Some(Frame::Map { seen, key, node }) = stack.last_mut()
                        && key.is_none()
                    {
                        let name = match &event {
                            Event::Scalar(v, ..) => v.to_string(),
                            _ => "*".to_owned(),
                        };
                        if !seen.insert(name.clone()) {
                            let mut path = map.nodes[*node].path.clone();
                            path.push(Seg::Key(name.clone()));
                            let (start, end) = (pos(&span.start), pos(&span.end));
                            map.duplicates.push(Located { path, start, end });
                        }
                        *key = Some((name, span.start));
                    } else {
                        map.open(&mut stack, span);
                    }
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let node = map.open(&mut stack, span);
                    stack.push(match event {
                        Event::MappingStart(..) => Frame::Map {
                            node,
                            seen: HashSet::new(),
                            key: None,
                        },
                        _ => Frame::Seq { node, next: 0 },
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    if let Some(Frame::Map { node, .. } | Frame::Seq { node, .. }) = stack.pop() {
                        map.nodes[node].end = pos(&span.end);
                    }
                }
                Event::DocumentEnd if stack.is_empty() && !map.nodes.is_empty() => break,
                _ => {}
            }
        }
        Ok(map)
    }

    /// Records the value that starts at `span` under the path its parent gives it and
    /// returns its index. A container used as a mapping key is recorded as key `?`.
    fn open(&mut self, stack: &mut [Frame], span: Span) -> usize {
        let (path, start) = match stack.last_mut() {
            None => (Vec::new(), pos(&span.start)),
            Some(Frame::Seq { node, next }) => {
                let mut path = self.nodes[*node].path.clone();
                path.push(Seg::Index(*next));
                *next += 1;
                (path, pos(&span.start))
            }
            Some(Frame::Map { node, key, .. }) => {
                let mut path = self.nodes[*node].path.clone();
                match key.take() {
                    Some((k, at)) => {
                        path.push(Seg::Key(k));
                        (path, pos(&at))
                    }
                    None => {
                        *key = Some(("?".to_owned(), span.start));
                        path.push(Seg::Key("?".to_owned()));
                        (path, pos(&span.start))
                    }
                }
            }
        };
        self.nodes.push(Located {
            path,
            start,
            end: pos(&span.end),
        });
        self.nodes.len() - 1
    }

    /// Where `path` is written (line, column); for a path that is not in the source, where
    /// its longest written prefix is.
    pub fn position(&self, path: &[Seg]) -> Option<(usize, usize)> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.nodes.iter().find(|l| l.path == path[..n]))
            .map(|l| l.start)
    }

    /// The innermost field whose key-to-value-end range holds `(line, column)`.
    pub fn path_at(&self, line: usize, column: usize) -> Option<&[Seg]> {
        let at = (line, column);
        self.nodes
            .iter()
            .filter(|l| l.start <= at && at < l.end)
            .max_by_key(|l| (l.path.len(), l.start))
            .map(|l| l.path.as_slice())
    }

    /// Mapping keys written a second time in the same mapping, in source order.
    pub fn duplicates(&self) -> &[Located] {
        &self.duplicates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "name: a\non:\n  webhook:\n    - path: x\n    - path: y\nsteps:\n  a: {uses: http, needs: [b, c]}\n  a:\n    uses: x\n";

    #[test]
    fn finds_keys_items_and_duplicates() -> Result<(), ValidationError> {
        let map = SourceMap::parse(SRC)?;
        assert_eq!(map.position(&path(&["name"])), Some((1, 1)));
        let mut p = path(&["on", "webhook"]);
        p.push(Seg::Index(1));
        assert_eq!(map.position(&p), Some((5, 7)));
        let mut needs = path(&["steps", "a", "needs"]);
        assert_eq!(map.position(&needs), Some((7, 19)));
        needs.push(Seg::Index(1));
        assert_eq!(display_path(&needs), "steps.a.needs[1]");
        assert_eq!(map.position(&needs), Some((7, 30)));
        assert_eq!(map.position(&path(&["steps", "zz", "uses"])), Some((6, 1)));
        let dups = map.duplicates();
        assert_eq!(dups.len(), 1);
        assert_eq!(dups[0].start, (8, 3));
        assert_eq!(display_path(&dups[0].path), "steps.a");
        Ok(())
    }

    #[test]
    fn path_at_position_and_json() -> Result<(), ValidationError> {
        let map = SourceMap::parse(SRC)?;
        assert_eq!(
            map.path_at(9, 11),
            Some(path(&["steps", "a", "uses"]).as_slice())
        );
        let json = "{\n  \"name\": \"a\",\n  \"steps\": {\"a\": {\"uses\": \"x\"}}\n}";
        let map = SourceMap::parse(json)?;
        assert_eq!(map.position(&path(&["steps", "a", "uses"])), Some((3, 19)));
        Ok(())
    }

    #[test]
    fn syntax_error_has_line() {
        let err = SourceMap::parse("a: [1, 2\nb: c\n").err();
        assert!(err.and_then(|e| e.line).is_some());
    }
}
