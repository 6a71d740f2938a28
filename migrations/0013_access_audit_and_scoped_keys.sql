CREATE TABLE `access_audit` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`account_id` text NOT NULL,
	`actor_account_id` text,
	`actor_access_key_id` text,
	`action` text NOT NULL,
	`target` text NOT NULL,
	`before` text,
	`after` text,
	`at` integer NOT NULL,
	`request_id` text
);
--> statement-breakpoint
CREATE INDEX `access_audit_account_idx` ON `access_audit` (`account_id`,`id`);--> statement-breakpoint
ALTER TABLE `access_keys` ADD `scope` text;--> statement-breakpoint
ALTER TABLE `access_keys` ADD `name` text;--> statement-breakpoint
ALTER TABLE `access_keys` ADD `expires_at` integer;--> statement-breakpoint
ALTER TABLE `access_keys` ADD `revoked_at` integer;--> statement-breakpoint
ALTER TABLE `access_keys` ADD `created_by` text;