//! One connection, SQLite or PostgreSQL, behind the same few calls, so that the store's
//! queries are written once.
//!
//! Statements are written in the SQL both understand, with SQLite's numbered parameters
//! (`?1`); for PostgreSQL they become `$1`. Where the two differ (JSON arrays, the schema
//! version, locks), the store asks [`Conn::dialect`]. Values cross as [`Value`]s and rows come
//! back whole as [`Row`]s, so no statement or row borrows its connection.
//!
//! The calls take `&self`: a transaction ([`Tx`]) is the connection itself between `BEGIN` and
//! `COMMIT` (or the `ROLLBACK` of its drop), and code that reads inside one reads through it.

use std::cell::{Cell, RefCell};
use std::fmt;

use postgres::types::private::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SqlError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Postgres(#[from] postgres::Error),
    #[error("column {column}: expected {expected}, found {found}")]
    Type {
        column: usize,
        expected: &'static str,
        found: &'static str,
    },
    #[error("column {0} is not in the row")]
    NoColumn(usize),
    #[error("PostgreSQL column {column} has type {ty}, which the store does not read")]
    Unsupported { column: usize, ty: String },
    #[error("the statement returned no row")]
    NoRow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a parameter or read from a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Real(_) => "a real",
            Value::Text(_) => "text",
            Value::Blob(_) => "a blob",
        }
    }
}

/// What can be bound to a parameter.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(*self as i64)
            }
        }
        impl FromValue for $t {
            fn from_value(value: Value, column: usize) -> Result<Self, SqlError> {
                match value {
                    Value::Int(v) => <$t>::try_from(v).map_err(|_| SqlError::Type {
                        column,
                        expected: stringify!($t),
                        found: "an integer out of range",
                    }),
                    other => Err(SqlError::Type { column, expected: stringify!($t), found: other.kind() }),
                }
            }
        }
    )*};
}
integers!(i64, i32, u32, u64, usize, u16);

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

/// The parameters of one statement, in order: `params![a, b]`.
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::store::sql::ToValue::to_value(&$value)),*]
    };
}
pub(crate) use params;

/// What a column can be read as.
pub trait FromValue: Sized {
    fn from_value(value: Value, column: usize) -> Result<Self, SqlError>;
}

impl FromValue for bool {
    fn from_value(value: Value, column: usize) -> Result<Self, SqlError> {
        i64::from_value(value, column).map(|v| v != 0)
    }
}
impl FromValue for f64 {
    fn from_value(value: Value, column: usize) -> Result<Self, SqlError> {
        match value {
            Value::Real(v) => Ok(v),
            Value::Int(v) => Ok(v as f64),
            other => Err(SqlError::Type {
                column,
                expected: "a real",
                found: other.kind(),
            }),
        }
    }
}
impl FromValue for String {
    fn from_value(value: Value, column: usize) -> Result<Self, SqlError> {
        match value {
            Value::Text(v) => Ok(v),
            other => Err(SqlError::Type {
                column,
                expected: "text",
                found: other.kind(),
            }),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(value: Value, column: usize) -> Result<Self, SqlError> {
        match value {
            Value::Blob(v) => Ok(v),
            Value::Text(v) => Ok(v.into_bytes()),
            other => Err(SqlError::Type {
                column,
                expected: "a blob",
                found: other.kind(),
            }),
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: Value, column: usize) -> Result<Self, SqlError> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other, column).map(Some),
        }
    }
}

/// One row of a result, read by column index.
#[derive(Debug, Clone)]
pub struct Row(Vec<Value>);

impl Row {
    pub fn get<T: FromValue>(&self, column: usize) -> Result<T, SqlError> {
        let value = self
            .0
            .get(column)
            .cloned()
            .ok_or(SqlError::NoColumn(column))?;
        T::from_value(value, column)
    }

    fn from_sqlite(row: &rusqlite::Row<'_>, columns: usize) -> rusqlite::Result<Row> {
        use rusqlite::types::ValueRef;
        (0..columns)
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Real(v),
                    ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
                    ValueRef::Blob(v) => Value::Blob(v.to_vec()),
                })
            })
            .collect::<rusqlite::Result<_>>()
            .map(Row)
    }

    fn from_postgres(row: &postgres::Row) -> Result<Row, SqlError> {
        fn get<'a, T: postgres::types::FromSql<'a>>(
            row: &'a postgres::Row,
            i: usize,
        ) -> Result<Option<T>, SqlError> {
            Ok(row.try_get::<_, Option<T>>(i)?)
        }
        let mut values = Vec::with_capacity(row.len());
        for (i, column) in row.columns().iter().enumerate() {
            let ty = column.type_();
            let value = match *ty {
                Type::INT8 => get::<i64>(row, i)?.map(Value::Int),
                Type::INT4 => get::<i32>(row, i)?.map(|v| Value::Int(v.into())),
                Type::INT2 => get::<i16>(row, i)?.map(|v| Value::Int(v.into())),
                Type::BOOL => get::<bool>(row, i)?.map(|v| Value::Int(v.into())),
                Type::FLOAT8 => get::<f64>(row, i)?.map(Value::Real),
                Type::FLOAT4 => get::<f32>(row, i)?.map(|v| Value::Real(v.into())),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                    get::<String>(row, i)?.map(Value::Text)
                }
                Type::BYTEA => get::<Vec<u8>>(row, i)?.map(Value::Blob),
                _ => {
                    return Err(SqlError::Unsupported {
                        column: i,
                        ty: ty.name().to_owned(),
                    });
                }
            };
            values.push(value.unwrap_or(Value::Null));
        }
        Ok(Row(values))
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::UNKNOWN => v.to_string().to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Real(v) => v.to_sql(ty, out),
            Value::Text(v) => v.as_str().to_sql(ty, out),
            Value::Blob(v) => v.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

enum Backend {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

/// The store's one connection.
pub struct Conn {
    backend: RefCell<Backend>,
    dialect: Dialect,
    /// Open transactions: one inside another is part of the outer one.
    depth: Cell<u32>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("dialect", &self.dialect)
            .finish()
    }
}

/// The parameters as the PostgreSQL client takes them.
fn bound(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

/// `?N` becomes `$N`; a `?` inside a quoted string stays.
fn to_postgres(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '?' && !quoted && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

impl Conn {
    pub fn sqlite(conn: rusqlite::Connection) -> Conn {
        Conn {
            backend: RefCell::new(Backend::Sqlite(conn)),
            dialect: Dialect::Sqlite,
            depth: Cell::new(0),
        }
    }

    pub fn postgres(client: postgres::Client) -> Conn {
        Conn {
            backend: RefCell::new(Backend::Postgres(client)),
            dialect: Dialect::Postgres,
            depth: Cell::new(0),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Whether a PostgreSQL connection has closed, so that it needs replacing.
    pub fn is_closed(&self) -> bool {
        match &*self.backend.borrow() {
            Backend::Sqlite(_) => false,
            Backend::Postgres(client) => client.is_closed(),
        }
    }

    /// Runs `f` on SQLite's own connection, for what only SQLite has (pragmas).
    pub fn with_sqlite<T>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Option<Result<T, SqlError>> {
        match &mut *self.backend.borrow_mut() {
            Backend::Sqlite(conn) => Some(f(conn).map_err(SqlError::from)),
            Backend::Postgres(_) => None,
        }
    }

    /// Runs one statement; answers how many rows it changed.
    pub fn execute(&self, sql: &str, params: Vec<Value>) -> Result<usize, SqlError> {
        match &mut *self.backend.borrow_mut() {
            Backend::Sqlite(conn) => {
                Ok(conn.execute(sql, rusqlite::params_from_iter(params.iter().map(Sqlite)))?)
            }
            Backend::Postgres(client) => {
                Ok(client.execute(to_postgres(sql).as_str(), &bound(&params))? as usize)
            }
        }
    }

    /// Runs statements without parameters, one after the other.
    pub fn execute_batch(&self, sql: &str) -> Result<(), SqlError> {
        match &mut *self.backend.borrow_mut() {
            Backend::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Backend::Postgres(client) => Ok(client.batch_execute(sql)?),
        }
    }

    /// Every row of a query, each read by `read`.
    pub fn query<T>(
        &self,
        sql: &str,
        params: Vec<Value>,
        read: impl FnMut(&Row) -> Result<T, SqlError>,
    ) -> Result<Vec<T>, SqlError> {
        self.rows(sql, params)?.iter().map(read).collect()
    }

    /// The first row of a query, if any.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: Vec<Value>,
        read: impl FnOnce(&Row) -> Result<T, SqlError>,
    ) -> Result<Option<T>, SqlError> {
        self.rows(sql, params)?.first().map(read).transpose()
    }

    /// Every row of a query, as read from the backend.
    fn rows(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, SqlError> {
        match &mut *self.backend.borrow_mut() {
            Backend::Sqlite(conn) => {
                let mut statement = conn.prepare(sql)?;
                let columns = statement.column_count();
                Ok(statement
                    .query_map(rusqlite::params_from_iter(params.iter().map(Sqlite)), |r| {
                        Row::from_sqlite(r, columns)
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?)
            }
            Backend::Postgres(client) => client
                .query(to_postgres(sql).as_str(), &bound(&params))?
                .iter()
                .map(Row::from_postgres)
                .collect(),
        }
    }

    /// The first row of a query, which must be there.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: Vec<Value>,
        read: impl FnOnce(&Row) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        self.query_opt(sql, params, read)?.ok_or(SqlError::NoRow)
    }

    /// Begins a transaction, which rolls back unless committed. Inside another, it is part
    /// of that one: only the outermost commits or rolls back.
    pub fn transaction(&self) -> Result<Tx<'_>, SqlError> {
        if self.depth.get() == 0 {
            self.execute_batch("BEGIN")?;
        }
        self.depth.set(self.depth.get() + 1);
        Ok(Tx {
            conn: self,
            done: false,
        })
    }

    /// Leaves a transaction; answers whether it was the outermost.
    fn leave(&self) -> bool {
        self.depth.set(self.depth.get().saturating_sub(1));
        self.depth.get() == 0
    }
}

/// A value bound to a SQLite parameter.
struct Sqlite<'a>(&'a Value);

impl rusqlite::ToSql for Sqlite<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
            Value::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

/// An open transaction; the connection's calls go through it.
pub struct Tx<'a> {
    conn: &'a Conn,
    done: bool,
}

impl Tx<'_> {
    pub fn commit(mut self) -> Result<(), SqlError> {
        self.done = true;
        if self.conn.leave() {
            self.conn.execute_batch("COMMIT")?;
        }
        Ok(())
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.done && self.conn.leave() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_parameters_become_dollars_outside_quotes() {
        assert_eq!(
            to_postgres("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d IN (?2, ?10)"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d IN ($2, $10)"
        );
    }

    #[test]
    fn a_transaction_rolls_back_unless_committed() {
        let conn = Conn::sqlite(rusqlite::Connection::open_in_memory().unwrap());
        conn.execute_batch("CREATE TABLE t (a INTEGER, b TEXT, c BLOB)")
            .unwrap();
        {
            let tx = conn.transaction().unwrap();
            tx.execute("INSERT INTO t (a) VALUES (?1)", params![1_i64])
                .unwrap();
        }
        let tx = conn.transaction().unwrap();
        tx.execute(
            "INSERT INTO t (a, b, c) VALUES (?1, ?2, ?3)",
            params![2_u32, Some("x"), vec![1_u8, 2]],
        )
        .unwrap();
        tx.commit().unwrap();
        let rows = conn
            .query("SELECT a, b, c FROM t", params![], |r| {
                Ok((
                    r.get::<i64>(0)?,
                    r.get::<Option<String>>(1)?,
                    r.get::<Vec<u8>>(2)?,
                ))
            })
            .unwrap();
        assert_eq!(rows, [(2, Some("x".to_owned()), vec![1, 2])]);
        assert!(matches!(
            conn.query_row("SELECT a FROM t WHERE a = 9", params![], |r| r
                .get::<i64>(0)),
            Err(SqlError::NoRow)
        ));
        assert!(matches!(
            conn.query_row("SELECT b FROM t", params![], |r| r.get::<i64>(0)),
            Err(SqlError::Type { column: 0, .. })
        ));
    }
}
