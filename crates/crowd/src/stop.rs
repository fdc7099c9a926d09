//! The stop words: common Chinese and English function words, and a few push
//! boilerplate words, that never become features.
//! Matching is exact, on the lower-cased token.

use std::collections::HashSet;
use std::sync::LazyLock;

/// Chinese function words: particles, pronouns, conjunctions, prepositions and the
/// like. Single characters only drop a token that *is* that character.
const CHINESE: &[&str] = &[
    "的", "了", "是", "在", "和", "与", "就", "都", "而", "及", "也", "这", "那", "你", "我", "他",
    "她", "它", "们", "吧", "呢", "啊", "吗", "哦", "呀", "啦", "嘛", "嗯", "哈", "一个", "没有",
    "不", "很", "还", "又", "等", "被", "把", "让", "给", "对", "从", "到", "为", "之", "其", "或",
    "但", "并", "于", "以", "着", "过", "会", "要", "能", "可以", "我们", "你们", "他们", "她们",
    "它们", "这个", "那个", "这些", "那些", "什么", "怎么", "因为", "所以", "如果", "就是", "还是",
    "只是", "已经", "自己", "一些", "而且", "或者", "以及", "但是", "哪", "哪里", "哪儿", "去",
    "来", "有", "说", "看", "么",
];

/// Push boilerplate: calls to action that appear in copy about anything and say
/// nothing about its subject.
const BOILERPLATE: &[&str] = &[
    "不要",
    "错过",
    "别错过",
    "精彩",
    "快来",
    "速来",
    "赶紧",
    "马上",
    "立即",
    "点击",
    "查看",
    "戳",
    "速戳",
    "福利",
];

/// English function words.
const ENGLISH: &[&str] = &[
    "the", "a", "an", "of", "to", "and", "in", "on", "for", "is", "are", "was", "were", "be",
    "been", "it", "its", "this", "that", "these", "those", "with", "as", "at", "by", "from", "or",
    "but", "not", "no", "so", "if", "then", "than", "i", "you", "he", "she", "we", "they", "my",
    "your", "our", "their", "me", "him", "her", "us", "them", "do", "does", "did", "have", "has",
    "had", "will", "would", "can", "could", "should", "just", "also", "very", "all", "any", "some",
    "more", "most", "up", "out", "about", "into", "over",
];

static STOP: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    CHINESE
        .iter()
        .chain(BOILERPLATE)
        .chain(ENGLISH)
        .copied()
        .collect()
});

/// Whether `token` (already lower-cased) is a stop word.
pub(crate) fn is_stop(token: &str) -> bool {
    STOP.contains(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_words_are_stop_words() {
        for w in ["的", "了", "一个", "没有", "the", "and", "of"] {
            assert!(is_stop(w), "{w}");
        }
        for w in ["篮球", "今晚", "直播", "nba", "basketball"] {
            assert!(!is_stop(w), "{w}");
        }
    }

    #[test]
    fn lists_hold_no_duplicates() {
        assert_eq!(
            STOP.len(),
            CHINESE.len() + BOILERPLATE.len() + ENGLISH.len()
        );
    }
}
