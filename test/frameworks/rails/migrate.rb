# Runs the migrations under db/migrate against database FW_DB of the server
# that the libpq environment (PGHOST, PGPORT, PGUSER, ...) names, as
# `rails db:migrate` would: each migration in a transaction of its own.
# Usage: ruby migrate.rb [VERSION] (a VERSION below the current one migrates
# down).  On failure it prints the error and the SQLSTATE, and exits 1.
require 'active_record'

ActiveRecord::Base.establish_connection(adapter: 'postgresql', database: ENV.fetch('FW_DB'))
version = ARGV[0]&.to_i
begin
  ActiveRecord::MigrationContext.new(File.join(__dir__, 'db/migrate'),
                                     ActiveRecord::SchemaMigration).migrate(version)
rescue StandardError => e
  warn e.message
  cause = e
  cause = cause.cause until cause.nil? || cause.is_a?(PG::Error)
  warn "SQLSTATE #{cause.result.error_field(PG::PG_DIAG_SQLSTATE)}" if cause&.result
  exit 1
end
