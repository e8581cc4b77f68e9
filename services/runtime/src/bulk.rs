//! Multi-row statements whose text does not depend on the row count.
//!
//! `INSERT … VALUES ($1, …), ($k, …)` (or a `WITH t AS (VALUES …)` feeding an `UPDATE`) is a new
//! text for every row count, so PostgreSQL parses and plans it again on every connection for
//! nearly every batch: under intake that was a fifth of the machine (docs/performance.md, "Eighth
//! round"). On PostgreSQL these functions send the rows as one array per column instead,
//! `SELECT … FROM unnest($1::int8[], …)` in place of the `VALUES` list: one text per statement,
//! which each connection prepares once and then plans generically. Rows keep their order (the
//! claims lock rows in key order). SQLite, and a list that is not plain bound values, run as built.

use sea_orm::sea_query::extension::postgres::PgFunc;
use sea_orm::sea_query::{ArrayType, Expr, ExprTrait, IntoColumnRef, Value};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, Statement, StatementBuilder};

/// Runs `query`, whose first values are its `VALUES` list.
pub async fn execute(db: &impl ConnectionTrait, query: &impl StatementBuilder) -> Result<ExecResult, DbErr> {
    db.execute_raw(statement(db.get_database_backend(), query)).await
}

/// Runs `query`, whose first values are its `VALUES` list, and returns the rows it returns.
pub async fn query_all(db: &impl ConnectionTrait, query: &impl StatementBuilder) -> Result<Vec<QueryResult>, DbErr> {
    db.query_all_raw(statement(db.get_database_backend(), query)).await
}

/// Runs several writes of a transaction, in order, and returns each one's affected rows. On
/// PostgreSQL they go as one statement — each a data-modifying `WITH` query — so they cost one
/// round trip instead of one each; elsewhere one after another. As parts of one statement they
/// share one snapshot: none may read what another writes. A write must not return rows itself.
pub async fn execute_all(db: &impl ConnectionTrait, writes: &[Statement]) -> Result<Vec<u64>, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres || writes.len() < 2 {
        let mut affected = Vec::with_capacity(writes.len());
        for write in writes {
            affected.push(db.execute_raw(write.clone()).await?.rows_affected());
        }
        return Ok(affected);
    }
    let statement = together(writes).ok_or_else(|| DbErr::Custom("writes that cannot be joined into one statement".into()))?;
    let row = db.query_one_raw(statement).await?.ok_or_else(|| DbErr::RecordNotFound("the writes' counts".into()))?;
    (0..writes.len()).map(|i| row.try_get::<i64>("", &format!("n{i}")).map(|n| n as u64)).collect()
}

/// `WITH w0 AS (<write> RETURNING 1), … SELECT (SELECT count(*) FROM w0) AS n0, …`, each write's
/// placeholders moved past the ones before it.
fn together(writes: &[Statement]) -> Option<Statement> {
    let (mut parts, mut counts, mut values) = (Vec::with_capacity(writes.len()), Vec::with_capacity(writes.len()), Vec::new());
    for (i, write) in writes.iter().enumerate() {
        parts.push(format!("w{i} AS ({} RETURNING 1)", renumbered(&write.sql, 0, values.len())?));
        counts.push(format!("(SELECT count(*) FROM w{i}) AS n{i}"));
        values.extend(write.values.iter().flat_map(|v| v.0.iter().cloned()));
    }
    let sql = format!("WITH {} SELECT {}", parts.join(", "), counts.join(", "));
    Some(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
}

/// `column IN (values)`, as one text whatever the count on PostgreSQL: `column = ANY($1)`.
pub fn is_in<V: Into<Value>>(backend: DbBackend, column: impl IntoColumnRef, values: impl IntoIterator<Item = V>) -> Expr {
    let values: Vec<Value> = values.into_iter().map(Into::into).collect();
    let kind = values.first().and_then(array_type).map(|(kind, _)| kind);
    match kind {
        Some(kind)
            if backend == DbBackend::Postgres
                && values.iter().all(|v| v.is_some() && array_type(v).is_some_and(|(k, _)| k == kind)) =>
        {
            Expr::col(column).eq(PgFunc::any(Expr::val(Value::Array(kind, Some(Box::new(values))))))
        }
        _ => Expr::col(column).is_in(values),
    }
}

/// The statement [`execute`] and [`query_all`] send for `query` on `backend`.
pub fn statement(backend: DbBackend, query: &impl StatementBuilder) -> Statement {
    let built = backend.build(query);
    if backend != DbBackend::Postgres {
        return built;
    }
    let values = built.values.as_ref().map_or(&[][..], |v| &v.0[..]);
    match unnest(&built.sql, values) {
        Some((sql, values)) => Statement::from_sql_and_values(backend, sql, values),
        None => built,
    }
}

/// The VALUES list of `sql` as `SELECT … FROM unnest(…)`: one array per column (`$1`…`$c`), then
/// a null mask per column that holds a NULL, then the statement's other values renumbered.
/// `None` when the list is not one run of bound values numbered from `$1`.
fn unnest(sql: &str, values: &[Value]) -> Option<(String, Vec<Value>)> {
    let at = sql.find("VALUES (")?;
    let (columns, rows, end) = tuples(sql, at + "VALUES ".len())?;
    let bound = columns * rows;
    if columns == 0 || values.len() < bound {
        return None;
    }
    let mut arrays = Vec::with_capacity(columns);
    let mut masks = Vec::new();
    let mut select = Vec::with_capacity(columns);
    let mut params = Vec::with_capacity(columns);
    let mut names = Vec::with_capacity(columns);
    for column in 0..columns {
        let cells: Vec<&Value> = (0..rows).map(|row| &values[row * columns + column]).collect();
        let (kind, sql_type) = array_type(cells[0])?;
        if cells.iter().any(|cell| array_type(cell).is_none_or(|(k, _)| k != kind)) {
            return None;
        }
        let items = cells.iter().map(|cell| if cell.is_some() { (*cell).clone() } else { filler(&kind) }).collect();
        params.push(format!("${}::{sql_type}[]", column + 1));
        names.push(format!("c{column}"));
        if cells.iter().any(|cell| !cell.is_some()) {
            select.push(format!("CASE WHEN n{column} THEN NULL ELSE c{column} END"));
            masks.push((column, cells.iter().map(|cell| Value::Bool(Some(!cell.is_some()))).collect::<Vec<_>>()));
        } else {
            select.push(format!("c{column}"));
        }
        arrays.push(Value::Array(kind, Some(Box::new(items))));
    }
    for (n, (column, _)) in masks.iter().enumerate() {
        params.push(format!("${}::bool[]", columns + n + 1));
        names.push(format!("n{column}"));
    }
    let shift = columns + masks.len();
    let rest = renumbered(&sql[end..], bound, shift)?;
    let sql = format!(
        "{}SELECT {} FROM unnest({}) AS u({}){rest}",
        &sql[..at],
        select.join(", "),
        params.join(", "),
        names.join(", ")
    );
    let mut out = arrays;
    out.extend(masks.into_iter().map(|(_, nulls)| Value::Array(ArrayType::Bool, Some(Box::new(nulls)))));
    out.extend(values[bound..].iter().cloned());
    Some((sql, out))
}

/// Parses `($1, $2), ($3, $4)` from `start`: (columns, rows, end). Each placeholder must be the
/// next number from `$1` on.
fn tuples(sql: &str, start: usize) -> Option<(usize, usize, usize)> {
    let bytes = sql.as_bytes();
    let (mut at, mut next, mut columns, mut rows) = (start, 1usize, 0usize, 0usize);
    loop {
        if bytes.get(at) != Some(&b'(') {
            return None;
        }
        at += 1;
        let mut width = 0;
        loop {
            let digits = sql[at..].strip_prefix('$')?;
            let len = digits.bytes().take_while(u8::is_ascii_digit).count();
            if digits[..len].parse::<usize>().ok()? != next {
                return None;
            }
            next += 1;
            width += 1;
            at += 1 + len;
            match &bytes[at..] {
                [b',', b' ', ..] => at += 2,
                [b')', ..] => {
                    at += 1;
                    break;
                }
                _ => return None,
            }
        }
        if rows > 0 && width != columns {
            return None;
        }
        columns = width;
        rows += 1;
        if sql[at..].starts_with(", (") {
            at += 2;
        } else {
            return Some((columns, rows, at));
        }
    }
}

/// `sql` with each placeholder `$k` after the first `bound` numbered `$(k - bound + shift)`;
/// `None` if one of the first `bound` appears (a value the rows share with the rest).
fn renumbered(sql: &str, bound: usize, shift: usize) -> Option<String> {
    let mut out = String::with_capacity(sql.len());
    let (mut quoted, mut chars) = (None, sql.char_indices().peekable());
    while let Some((i, c)) = chars.next() {
        out.push(c);
        match (quoted, c) {
            (Some(q), c) if c == q => quoted = None,
            (None, '\'' | '"') => quoted = Some(c),
            (None, '$') => {
                let len = sql[i + 1..].bytes().take_while(u8::is_ascii_digit).count();
                if len == 0 {
                    continue;
                }
                let k: usize = sql[i + 1..i + 1 + len].parse().ok()?;
                if k <= bound {
                    return None;
                }
                out.push_str(&(k - bound + shift).to_string());
                for _ in 0..len {
                    chars.next();
                }
            }
            _ => {}
        }
    }
    Some(out)
}

/// The array element type of a value and its PostgreSQL name; `None` for kinds not sent as arrays.
fn array_type(value: &Value) -> Option<(ArrayType, &'static str)> {
    Some(match value {
        Value::Bool(_) => (ArrayType::Bool, "bool"),
        Value::SmallInt(_) => (ArrayType::SmallInt, "int2"),
        Value::Int(_) => (ArrayType::Int, "int4"),
        Value::BigInt(_) => (ArrayType::BigInt, "int8"),
        Value::Float(_) => (ArrayType::Float, "float4"),
        Value::Double(_) => (ArrayType::Double, "float8"),
        Value::String(_) => (ArrayType::String, "text"),
        Value::Bytes(_) => (ArrayType::Bytes, "bytea"),
        _ => return None,
    })
}

/// A value of `kind` to stand in an array for a NULL (its mask says NULL).
fn filler(kind: &ArrayType) -> Value {
    match kind {
        ArrayType::Bool => Value::Bool(Some(false)),
        ArrayType::SmallInt => Value::SmallInt(Some(0)),
        ArrayType::Int => Value::Int(Some(0)),
        ArrayType::Float => Value::Float(Some(0.0)),
        ArrayType::Double => Value::Double(Some(0.0)),
        ArrayType::String => Value::String(Some(String::new())),
        ArrayType::Bytes => Value::Bytes(Some(Vec::new())),
        _ => Value::BigInt(Some(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{Alias, CommonTableExpression, Expr, InsertStatement, OnConflict, PostgresQueryBuilder, Query, Values, WithClause};

    fn insert(rows: &[(i64, Option<&str>)]) -> InsertStatement {
        let mut q = insert_plain(rows);
        q.on_conflict(OnConflict::column(Alias::new("id")).value(Alias::new("name"), Expr::val("x")).to_owned());
        q.returning_col(Alias::new("id"));
        q
    }

    fn unnested(q: &InsertStatement) -> (String, Vec<Value>) {
        let (sql, values) = q.build(PostgresQueryBuilder);
        unnest(&sql, &values.0).expect("unnested")
    }

    #[test]
    fn writes_joined_as_one_statement_number_their_values_in_turn() {
        let first = statement(DbBackend::Postgres, &insert_plain(&[(1, Some("a")), (2, Some("b"))]));
        let second = statement(DbBackend::Postgres, Query::delete().from_table(Alias::new("t")).and_where(Expr::col(Alias::new("id")).eq(7)));
        let joined = together(&[first, second]).expect("joined");
        assert_eq!(
            joined.sql,
            r#"WITH w0 AS (INSERT INTO "t" ("id", "name") SELECT c0, c1 FROM unnest($1::int8[], $2::text[]) AS u(c0, c1) RETURNING 1), w1 AS (DELETE FROM "t" WHERE "id" = $3 RETURNING 1) SELECT (SELECT count(*) FROM w0) AS n0, (SELECT count(*) FROM w1) AS n1"#
        );
        let values = joined.values.expect("values").0;
        assert_eq!(values.len(), 3);
        assert_eq!(values[2], 7.into());
    }

    fn insert_plain(rows: &[(i64, Option<&str>)]) -> InsertStatement {
        let mut q = Query::insert();
        q.into_table(Alias::new("t")).columns([Alias::new("id"), Alias::new("name")]);
        for (id, name) in rows {
            q.values_panic([(*id).into(), name.map(str::to_owned).into()]);
        }
        q
    }

    #[test]
    fn any_row_count_gives_one_text_with_one_array_per_column() {
        let (two, values) = unnested(&insert(&[(1, Some("a")), (2, Some("b"))]));
        let (three, _) = unnested(&insert(&[(1, Some("a")), (2, Some("b")), (3, Some("c"))]));
        assert_eq!(two, three);
        assert_eq!(
            two,
            r#"INSERT INTO "t" ("id", "name") SELECT c0, c1 FROM unnest($1::int8[], $2::text[]) AS u(c0, c1) ON CONFLICT ("id") DO UPDATE SET "name" = $3 RETURNING "id""#
        );
        let ids = Value::Array(ArrayType::BigInt, Some(Box::new(vec![1i64.into(), 2i64.into()])));
        let names = Value::Array(ArrayType::String, Some(Box::new(vec!["a".into(), "b".into()])));
        assert_eq!(values, vec![ids, names, "x".into()]);
    }

    #[test]
    fn a_column_holding_nulls_is_masked_and_the_rest_renumbered() {
        let (sql, values) = unnested(&insert(&[(1, None), (2, Some("b"))]));
        assert_eq!(
            sql,
            r#"INSERT INTO "t" ("id", "name") SELECT c0, CASE WHEN n1 THEN NULL ELSE c1 END FROM unnest($1::int8[], $2::text[], $3::bool[]) AS u(c0, c1, n1) ON CONFLICT ("id") DO UPDATE SET "name" = $4 RETURNING "id""#
        );
        assert_eq!(values[1], Value::Array(ArrayType::String, Some(Box::new(vec!["".into(), "b".into()]))));
        assert_eq!(values[2], Value::Array(ArrayType::Bool, Some(Box::new(vec![true.into(), false.into()]))));
        assert_eq!(values[3], "x".into());
    }

    #[test]
    fn a_values_table_feeding_an_update_is_unnested_too() {
        let table = CommonTableExpression::new()
            .table_name(Alias::new("load"))
            .columns([Alias::new("id"), Alias::new("delta")])
            .values(vec![Values(vec!["a".into(), 1i32.into()]), Values(vec!["b".into(), 2i32.into()])])
            .to_owned();
        let update = Query::update()
            .table(Alias::new("crew"))
            .value(Alias::new("stamp"), 7i64)
            .from(Alias::new("load"))
            .and_where(Expr::col((Alias::new("crew"), Alias::new("id"))).equals((Alias::new("load"), Alias::new("id"))))
            .with_cte(WithClause::new().cte(table).to_owned())
            .to_owned();
        let (sql, values) = update.build(PostgresQueryBuilder);
        let (sql, values) = unnest(&sql, &values.0).expect("unnested");
        assert!(sql.starts_with(r#"WITH "load" ("id", "delta") AS (SELECT c0, c1 FROM unnest($1::text[], $2::int4[]) AS u(c0, c1)) UPDATE "crew" SET "stamp" = $3"#), "{sql}");
        assert_eq!(values.len(), 3);
    }

    #[test]
    fn values_that_are_not_plain_placeholders_are_left_as_built() {
        let mut q = Query::insert();
        q.into_table(Alias::new("t")).columns([Alias::new("id"), Alias::new("at")]);
        q.values_panic([1i64.into(), Expr::cust("now()")]);
        let (sql, values) = q.build(PostgresQueryBuilder);
        assert_eq!(unnest(&sql, &values.0), None);
        let (sql, values) = (r#"INSERT INTO "t" ("id") VALUES ($1) ON CONFLICT DO UPDATE SET "id" = $1"#, vec![Value::BigInt(Some(1))]);
        assert_eq!(unnest(sql, &values), None, "a row value used again after the list");
    }

    #[test]
    fn a_list_is_one_array_on_postgres_only() {
        let select = |backend| {
            Query::select()
                .column(Alias::new("id"))
                .from(Alias::new("t"))
                .and_where(is_in(backend, Alias::new("id"), ["a", "b", "c"]))
                .to_owned()
                .build(PostgresQueryBuilder)
        };
        let (sql, values) = select(DbBackend::Postgres);
        assert_eq!(sql, r#"SELECT "id" FROM "t" WHERE "id" = ANY($1)"#);
        assert_eq!(values.0, vec![Value::Array(ArrayType::String, Some(Box::new(vec!["a".into(), "b".into(), "c".into()])))]);
        let (sql, _) = select(DbBackend::Sqlite);
        assert_eq!(sql, r#"SELECT "id" FROM "t" WHERE "id" IN ($1, $2, $3)"#);
    }

    #[test]
    fn placeholders_inside_quotes_are_not_renumbered() {
        assert_eq!(renumbered(r#" SET "a$3" = '$2', b = $4"#, 2, 1).as_deref(), Some(r#" SET "a$3" = '$2', b = $3"#));
    }
}
