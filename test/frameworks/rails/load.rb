# Creates a database from a template and loads a schema file into it, as
# `bin/rails db:test:prepare` does for the test database (database.yml:
# `template: ...`).  Usage: ruby load.rb DATABASE TEMPLATE FILE ruby|sql
require 'active_record'

database, template, file, format = ARGV
config = { adapter: 'postgresql', database: database, template: template }
ActiveRecord::Tasks::DatabaseTasks.create(config)
ActiveRecord::Base.establish_connection(config)
ActiveRecord::Tasks::DatabaseTasks.load_schema(ActiveRecord::Base.connection_db_config,
                                               format.to_sym, file)
