-- `messages.json?addresses=…&msgType=…` (what clients ask most after the latest page): one
-- covering index serves both the page (in time order) and its COUNT(*) without touching the
-- table. Without it the planner walked `messages_type_time` and read every row of that type.
CREATE INDEX messages_sender_type_time ON messages (sender, type, time, item_hash);
