# Ordinary foreign keys, one of them with ON UPDATE CASCADE.
class CreateShop < ActiveRecord::Migration[6.1]
  def change
    create_table :customers do |t|
      t.text :name
    end
    create_table :orders do |t|
      t.references :customer, null: false, foreign_key: true
      t.integer :number
    end
    create_table :order_lines do |t|
      t.references :order, null: false,
                   foreign_key: { on_delete: :cascade, on_update: :cascade }
      t.integer :quantity
    end
  end
end
