-- Balance checks look costs up by owner case-insensitively (EVM addresses): index that form.
CREATE INDEX message_costs_owner_lower ON message_costs (lower(owner), payment_type);
