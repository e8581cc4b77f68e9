//! Multi-row statements through `flywheel_runtime::bulk` on a real database (SQLite, or
//! PostgreSQL with FLYWHEEL_TEST_POSTGRES): every value, NULL and conflict lands as the
//! statement as built would land it, and on PostgreSQL every row count shares one prepared text.

use flywheel_runtime::bulk;
use flywheel_testing::TestDatabase;
use sea_orm::sea_query::{Alias, CommonTableExpression, Expr, ExprTrait, OnConflict, Query, Values, WithClause};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, TransactionTrait};

type Row = (i64, Option<String>, Option<i32>, Option<f64>, Option<Vec<u8>>, bool);

async fn probe_table(db: &DatabaseConnection) {
    let bytes = if db.get_database_backend() == DbBackend::Postgres { "BYTEA" } else { "BLOB" };
    let sql = format!(
        "CREATE TABLE probe (id BIGINT PRIMARY KEY, name TEXT, n INTEGER, x DOUBLE PRECISION, body {bytes}, flag BOOLEAN NOT NULL)"
    );
    db.execute_unprepared(&sql).await.expect("probe table");
}

fn insert(rows: &[Row]) -> sea_orm::sea_query::InsertStatement {
    let mut q = Query::insert();
    q.into_table(Alias::new("probe"))
        .columns(["id", "name", "n", "x", "body", "flag"].map(Alias::new));
    for (id, name, n, x, body, flag) in rows {
        q.values_panic([(*id).into(), name.clone().into(), (*n).into(), (*x).into(), body.clone().into(), (*flag).into()]);
    }
    // A repeated id keeps the stored name and adds up n: values after the rows' own.
    let stored_n = Expr::col((Alias::new("probe"), Alias::new("n")));
    q.on_conflict(
        OnConflict::column(Alias::new("id"))
            .value(Alias::new("n"), stored_n.add(Expr::col((Alias::new("excluded"), Alias::new("n")))).add(Expr::val(1000)))
            .to_owned(),
    );
    q.returning_col(Alias::new("id"));
    q
}

async fn stored(db: &DatabaseConnection) -> Vec<Row> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(backend, "SELECT id, name, n, x, body, flag FROM probe ORDER BY id"))
        .await
        .expect("read");
    rows.iter()
        .map(|r| {
            (
                r.try_get_by_index(0).unwrap(),
                r.try_get_by_index(1).unwrap(),
                r.try_get_by_index(2).unwrap(),
                r.try_get_by_index(3).unwrap(),
                r.try_get_by_index(4).unwrap(),
                r.try_get_by_index(5).unwrap(),
            )
        })
        .collect()
}

fn row(id: i64) -> Row {
    let some = id % 3 != 0;
    (
        id,
        some.then(|| format!("name {id}")),
        (id % 2 == 0).then_some(id as i32),
        some.then_some(id as f64 / 4.0),
        (id % 5 != 0).then(|| vec![id as u8, 0, 255]),
        id % 2 == 1,
    )
}

#[tokio::test]
async fn rows_with_nulls_and_conflicts_land_as_built_at_any_count() {
    let database = TestDatabase::new();
    let db = Database::connect(database.url()).await.expect("connect");
    probe_table(&db).await;
    let first: Vec<Row> = (1..=300).map(row).collect();
    let returned = bulk::query_all(&db, &insert(&first)).await.expect("insert");
    assert_eq!(returned.len(), 300);
    let ids: Vec<i64> = returned.iter().map(|r| r.try_get_by_index(0).unwrap()).collect();
    assert_eq!(ids, (1..=300).collect::<Vec<_>>(), "rows in their order");
    assert_eq!(stored(&db).await, first);

    // Ids 299 and 300 again, with one new: the conflicts keep their names and add up n.
    let again = vec![row(299), (300, None, Some(7), None, None, true), row(301)];
    bulk::execute(&db, &insert(&again)).await.expect("upsert");
    let all = stored(&db).await;
    assert_eq!(all.len(), 301);
    assert_eq!(all[298], first[298], "n was NULL: NULL + NULL + 1000 stays NULL");
    assert_eq!(all[299].2, Some(300 + 7 + 1000));
    assert_eq!(all[299].1, first[299].1);
    assert_eq!(all[300], row(301));
}

#[tokio::test]
async fn writes_run_together_land_as_run_alone_and_count_their_rows() {
    let database = TestDatabase::new();
    let db = Database::connect(database.url()).await.expect("connect");
    let backend = db.get_database_backend();
    probe_table(&db).await;
    bulk::execute(&db, &insert(&(1..=4).map(row).collect::<Vec<_>>())).await.expect("insert");

    let more = Query::insert()
        .into_table(Alias::new("probe"))
        .columns(["id", "name", "n", "x", "body", "flag"].map(Alias::new))
        .values_panic([5i64.into(), "five".into(), 5i32.into(), Option::<f64>::None.into(), Option::<Vec<u8>>::None.into(), true.into()])
        .values_panic([6i64.into(), "six".into(), 6i32.into(), 1.5f64.into(), vec![6u8].into(), false.into()])
        .to_owned();
    // A write with its own WITH, as dispatch's crew loads.
    let table = CommonTableExpression::new()
        .table_name(Alias::new("change"))
        .columns([Alias::new("id"), Alias::new("n")])
        .values(vec![Values(vec![1i64.into(), 10i32.into()]), Values(vec![3i64.into(), 30i32.into()])])
        .to_owned();
    let update = Query::update()
        .table(Alias::new("probe"))
        .value(Alias::new("n"), Expr::col((Alias::new("change"), Alias::new("n"))))
        .from(Alias::new("change"))
        .and_where(Expr::col((Alias::new("probe"), Alias::new("id"))).equals((Alias::new("change"), Alias::new("id"))))
        .with_cte(WithClause::new().cte(table).to_owned())
        .to_owned();
    let delete = Query::delete().from_table(Alias::new("probe")).and_where(Expr::col(Alias::new("id")).eq(4)).to_owned();
    let writes = [bulk::statement(backend, &more), bulk::statement(backend, &update), bulk::statement(backend, &delete)];

    let txn = db.begin().await.expect("begin");
    assert_eq!(bulk::execute_all(&txn, &writes).await.expect("together"), vec![2, 2, 1]);
    txn.commit().await.expect("commit");
    let all = stored(&db).await;
    assert_eq!(all.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3, 5, 6]);
    assert_eq!((all[0].2, all[2].2), (Some(10), Some(30)), "the update's rows");
    assert_eq!(all[1], row(2));
    assert_eq!(all[3], (5, Some("five".into()), Some(5), None, None, true));
    assert_eq!(all[4], (6, Some("six".into()), Some(6), Some(1.5), Some(vec![6]), false));
}

#[tokio::test]
async fn a_values_table_feeding_an_update_changes_the_rows_it_names() {
    let database = TestDatabase::new();
    let db = Database::connect(database.url()).await.expect("connect");
    probe_table(&db).await;
    bulk::execute(&db, &insert(&(1..=4).map(row).collect::<Vec<_>>())).await.expect("insert");
    let changes = vec![Values(vec![2i64.into(), 5i32.into()]), Values(vec![4i64.into(), Option::<i32>::None.into()])];
    let table = CommonTableExpression::new()
        .table_name(Alias::new("change"))
        .columns([Alias::new("id"), Alias::new("n")])
        .values(changes)
        .to_owned();
    let update = Query::update()
        .table(Alias::new("probe"))
        .value(Alias::new("n"), Expr::col((Alias::new("change"), Alias::new("n"))))
        .value(Alias::new("name"), "changed")
        .from(Alias::new("change"))
        .and_where(Expr::col((Alias::new("probe"), Alias::new("id"))).equals((Alias::new("change"), Alias::new("id"))))
        .with_cte(WithClause::new().cte(table).to_owned())
        .to_owned();
    assert_eq!(bulk::execute(&db, &update).await.expect("update").rows_affected(), 2);
    let all = stored(&db).await;
    assert_eq!((all[1].1.as_deref(), all[1].2), (Some("changed"), Some(5)));
    assert_eq!((all[3].1.as_deref(), all[3].2), (Some("changed"), None));
    assert_eq!(all[0], row(1));
    assert_eq!(all[2], row(3));
}

#[tokio::test]
async fn every_row_count_is_one_prepared_statement_on_postgres() {
    let database = TestDatabase::new();
    let db = Database::connect(database.url()).await.expect("connect");
    if db.get_database_backend() != DbBackend::Postgres {
        return; // SQLite prepares each text anyway; nothing is planned per connection there.
    }
    probe_table(&db).await;
    // One transaction: one connection, whose prepared statements the view lists.
    let txn = db.begin().await.expect("begin");
    // The same columns NULL in every batch (as the outbox's last error is): one null mask.
    let row = |id: i64| (id, Some(format!("name {id}")), Some(id as i32), Some(id as f64), None, id % 2 == 1);
    let mut next = 1;
    for count in [1, 2, 3, 17, 64] {
        let rows: Vec<Row> = (next..next + count).map(row).collect();
        next += count;
        bulk::execute(&txn, &insert(&rows)).await.expect("insert");
    }
    let prepared = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            r#"SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'INSERT INTO "probe"%'"#,
        ))
        .await
        .expect("prepared statements")
        .expect("a count");
    assert_eq!(prepared.try_get_by_index::<i64>(0).unwrap(), 1);
    txn.commit().await.expect("commit");
    assert_eq!(stored(&db).await.len(), 87);
}
