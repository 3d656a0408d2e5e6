//! `-w table`: etcdctl's tables (olekukonko/tablewriter as etcdctl sets it
//! up: upper-case headers centred, cells right-aligned). etcdctl draws tables
//! only for cluster-wide figures (`endpoint status`, `snapshot status`);
//! revkv draws them for its own figures (stats, verify, restore, dump -o).

use std::io::{self, Write};

/// One table with a header row and one row of `cells`.
pub fn one_row(out: &mut dyn Write, columns: &[(&str, String)]) -> io::Result<()> {
    let heads: Vec<String> = columns
        .iter()
        .map(|(name, _)| name.replace('_', " ").to_uppercase())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .zip(&heads)
        .map(|((_, cell), head)| cell.chars().count().max(head.chars().count()))
        .collect();
    let rule: String = widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(w + 2)))
        .collect::<String>()
        + "+";
    writeln!(out, "{rule}")?;
    let mut row = String::new();
    for (head, w) in heads.iter().zip(&widths) {
        let gap = w - head.chars().count();
        let left = gap / 2;
        row.push_str(&format!(
            "| {}{}{} ",
            " ".repeat(left),
            head,
            " ".repeat(gap - left)
        ));
    }
    writeln!(out, "{row}|")?;
    writeln!(out, "{rule}")?;
    let mut row = String::new();
    for ((_, cell), w) in columns.iter().zip(&widths) {
        row.push_str(&format!("| {cell:>w$} "));
    }
    writeln!(out, "{row}|")?;
    writeln!(out, "{rule}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_drawn_like_etcdctls() {
        let mut out = Vec::new();
        one_row(
            &mut out,
            &[("revision", "12".into()), ("db_size", "20 kB".into())],
        )
        .expect("draw");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "+----------+---------+\n\
             | REVISION | DB SIZE |\n\
             +----------+---------+\n\
             |       12 |   20 kB |\n\
             +----------+---------+\n"
        );
    }
}
