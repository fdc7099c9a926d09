//! Text features: jieba words, character bigrams of long CJK words, and the
//! tag-name substring rule.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use jieba_rs::Jieba;

use crate::stop::is_stop;

/// The segmenter, with its embedded dictionary; loading it takes a while, so it is
/// built once per process, on first use.
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Longest tag name, in characters, that the substring rule looks for.
pub(crate) const MAX_KEY_CHARS: usize = 16;

/// A CJK unified ideograph (basic block, extension A, compatibility ideographs and
/// the supplementary-plane extensions).
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(
        c as u32,
        0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xF900..=0xFAFF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2EBEF
            | 0x30000..=0x3134F
    )
}

fn is_word_char(c: char) -> bool {
    is_cjk(c) || c.is_ascii_alphanumeric()
}

/// The words of `text`: its jieba tokens (ASCII lower-cased first) that contain at
/// least one CJK ideograph or ASCII letter or digit and are not stop words, in text
/// order, repeats kept.
pub fn words(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    JIEBA
        .cut(&lower, true)
        .into_iter()
        .map(str::trim)
        .filter(|t| t.chars().any(is_word_char) && !is_stop(t))
        .map(str::to_owned)
        .collect()
}

/// The features of `text`: each word, followed by the character bigrams of that
/// word when it has three or more characters, all of them CJK ideographs (bigrams
/// of Latin words, such as `ba` in `nba`, carry no meaning and are not made).
/// Bigrams that are stop words are dropped. Repeats are kept: they are the term
/// frequencies.
///
/// `篮球赛` gives `篮球赛`, `篮球`, `球赛`.
pub fn features(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in words(text) {
        let chars: Vec<char> = word.chars().collect();
        out.push(word);
        if chars.len() >= 3 && chars.iter().all(|&c| is_cjk(c)) {
            for pair in chars.windows(2) {
                let bigram: String = pair.iter().collect();
                if !is_stop(&bigram) {
                    out.push(bigram);
                }
            }
        }
    }
    out
}

/// `text` with ASCII lower-cased and everything but CJK ideographs and ASCII letters
/// and digits removed (spaces, punctuation, emoji).
pub(crate) fn squeeze(text: &str) -> String {
    text.chars()
        .filter(|&c| is_word_char(c))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The tag names looked for as substrings of other texts (see [`TagKeys::key`]).
#[derive(Debug, Default)]
pub(crate) struct TagKeys {
    keys: HashSet<String>,
    /// Distinct key lengths in characters, ascending.
    lens: Vec<usize>,
}

impl TagKeys {
    /// The key of a tag name: the name squeezed ([`squeeze`]), if it has 2 to
    /// [`MAX_KEY_CHARS`] characters and is not a stop word.
    pub(crate) fn key(name: &str) -> Option<String> {
        let key = squeeze(name);
        let n = key.chars().count();
        ((2..=MAX_KEY_CHARS).contains(&n) && !is_stop(&key)).then_some(key)
    }

    /// The keys of these tag names.
    pub(crate) fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let keys: HashSet<String> = names.into_iter().filter_map(Self::key).collect();
        let mut lens: Vec<usize> = keys.iter().map(|k| k.chars().count()).collect();
        lens.sort_unstable();
        lens.dedup();
        Self { keys, lens }
    }

    /// How often each key occurs in `text` once squeezed (overlapping occurrences
    /// count), in key order.
    pub(crate) fn occurrences(&self, text: &str) -> BTreeMap<String, u32> {
        let mut found = BTreeMap::new();
        if self.keys.is_empty() {
            return found;
        }
        let s = squeeze(text);
        let mut bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).collect();
        bounds.push(s.len());
        let chars = bounds.len() - 1;
        for start in 0..chars {
            for &len in &self.lens {
                let Some(&end) = bounds.get(start + len) else {
                    break;
                };
                let sub = &s[bounds[start]..end];
                if self.keys.contains(sub) {
                    *found.entry(sub.to_owned()).or_insert(0) += 1;
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: Vec<String>) -> Vec<String> {
        let mut v = v;
        v.sort();
        v.dedup();
        v
    }

    #[test]
    fn long_cjk_word_gives_its_bigrams() {
        assert_eq!(set(features("篮球赛")), ["球赛", "篮球", "篮球赛"]);
    }

    #[test]
    fn two_char_word_is_its_own_feature() {
        assert_eq!(features("篮球"), ["篮球"]);
    }

    #[test]
    fn stop_words_are_dropped() {
        let f = features("我的篮球");
        assert!(f.contains(&"篮球".to_owned()), "{f:?}");
        assert!(!f.iter().any(|w| w == "我" || w == "的"), "{f:?}");
        let f = features("the basketball of the year");
        assert_eq!(f, ["basketball", "year"]);
    }

    #[test]
    fn whitespace_and_punctuation_are_dropped() {
        let f = features("  篮球 ，决赛！！ ... ?  ");
        assert!(!f.is_empty());
        assert!(
            f.iter()
                .all(|w| w.chars().any(is_word_char) && w.trim() == w),
            "{f:?}"
        );
        assert!(f.contains(&"篮球".to_owned()) && f.contains(&"决赛".to_owned()));
    }

    #[test]
    fn ascii_is_lower_cased() {
        assert_eq!(features("NBA Finals"), ["nba", "finals"]);
    }

    #[test]
    fn latin_words_get_no_bigrams() {
        assert_eq!(features("nba"), ["nba"]);
    }

    #[test]
    fn squeeze_keeps_ideographs_and_alphanumerics() {
        assert_eq!(squeeze("NBA 篮球，赛!"), "nba篮球赛");
    }

    #[test]
    fn tag_keys() {
        assert_eq!(TagKeys::key("篮球 赛"), Some("篮球赛".to_owned()));
        assert_eq!(TagKeys::key("车"), None);
        assert_eq!(TagKeys::key("一个"), None);
        assert_eq!(TagKeys::key(&"长".repeat(MAX_KEY_CHARS + 1)), None);
        let keys = TagKeys::new(["篮球赛", "NBA", "美食", "车"]);
        let found = keys.occurrences("NBA篮球赛，篮球赛直播");
        let found: Vec<(&str, u32)> = found.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        assert_eq!(found, [("nba", 1), ("篮球赛", 2)]);
        assert!(keys.occurrences("").is_empty());
    }
}
