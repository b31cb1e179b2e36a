# The models of the framework test, connected to database FW_DB of the
# server that the libpq environment names; `ruby -r ./models.rb -e ...`.
require 'active_record'

ActiveRecord::Base.establish_connection(adapter: 'postgresql', database: ENV.fetch('FW_DB'))
# as in a Rails application: a belongs_to is validated on save
ActiveRecord::Base.belongs_to_required_by_default = true

class Account < ActiveRecord::Base
  has_many :entries
end

class Entry < ActiveRecord::Base
  belongs_to :account
end

class Customer < ActiveRecord::Base
  has_many :orders
end

class Order < ActiveRecord::Base
  belongs_to :customer
  has_many :order_lines
end

class OrderLine < ActiveRecord::Base
  belongs_to :order
end
