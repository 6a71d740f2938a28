CREATE TABLE `kms_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`alias` text,
	`description` text DEFAULT '' NOT NULL,
	`state` text DEFAULT 'Enabled' NOT NULL,
	`deletion_date` integer,
	`material_wrapped` text NOT NULL,
	`wrapped_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `kms_keys_account_alias_unique` ON `kms_keys` (`account_id`,`alias`);--> statement-breakpoint
CREATE INDEX `kms_keys_wrapped_by_idx` ON `kms_keys` (`wrapped_by`);--> statement-breakpoint
CREATE INDEX `kms_keys_deletion_date_idx` ON `kms_keys` (`deletion_date`);