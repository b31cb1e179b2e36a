# What `bin/rails db:schema:dump` writes with schema_format :sql
# (db/structure.sql), followed by the calls that declare again the
# references ri_policy holds: pg_dump --schema-only leaves the registry out.
# Usage: ruby structure.rb DIR [PG_DUMP_FLAG...]; writes DIR/structure.sql.
require_relative 'models'

# One declare_reference() call for each declared reference.  The names of
# the tables are written as search_path shows them: the file ends with
# Rails's `SET search_path TO "$user", public`.
DECLARATIONS = <<~SQL.freeze
  SELECT format('SELECT ri_policy.declare_reference(%L, %L, %L, %L, name => %L, match => %L, on_delete => %L);',
                child, child_columns, parent, parent_columns, name, match, on_delete)
    FROM ri_policy.references
   WHERE kind = 'declared'
   ORDER BY child::text, name
SQL

tasks = ActiveRecord::Tasks::DatabaseTasks
tasks.db_dir = ARGV.shift
tasks.structure_dump_flags = ARGV unless ARGV.empty?
config = ActiveRecord::Base.connection_db_config
tasks.dump_schema(config, :sql)
File.open(tasks.dump_filename(config.name, :sql), 'a') do |f|
  f.puts ActiveRecord::Base.connection.select_values(DECLARATIONS)
end
