# A relation the database does not enforce (foreign_key: false), declared
# to ri_policy in the same migration, so that ri_policy.validate() checks it.
class CreateLedger < ActiveRecord::Migration[6.1]
  def up
    create_table :accounts do |t|
      t.text :name
    end
    create_table :entries do |t|
      t.references :account, null: false, foreign_key: false
      t.integer :amount
    end
    execute "SELECT ri_policy.declare_reference('entries', '{account_id}', 'accounts')"
  end

  def down
    execute "SELECT ri_policy.drop_reference('entries.entries_account_id_ref')"
    drop_table :entries
    drop_table :accounts
  end
end
