CREATE TABLE `access_keys` (
	`access_key_id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`secret_enc` text NOT NULL,
	`status` text DEFAULT 'active' NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `access_keys_account_idx` ON `access_keys` (`account_id`);--> statement-breakpoint
CREATE TABLE `accounts` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`status` text DEFAULT 'active' NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `buckets` (
	`name` text PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`account_id` text NOT NULL,
	`region` text NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `buckets_id_unique` ON `buckets` (`id`);--> statement-breakpoint
CREATE INDEX `buckets_account_idx` ON `buckets` (`account_id`);--> statement-breakpoint
CREATE TABLE `nodes` (
	`id` text PRIMARY KEY NOT NULL,
	`operator_address` text NOT NULL,
	`url` text NOT NULL,
	`zone` text NOT NULL,
	`capacity_bytes` integer NOT NULL,
	`used_bytes` integer DEFAULT 0 NOT NULL,
	`free_bytes` integer DEFAULT 0 NOT NULL,
	`blob_count` integer DEFAULT 0 NOT NULL,
	`status` text DEFAULT 'active' NOT NULL,
	`last_heartbeat_at` integer,
	`agent_version` text NOT NULL,
	`access_key_id` text NOT NULL,
	`secret_enc` text NOT NULL,
	`registered_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`operator_address`) REFERENCES `operators`(`address`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `nodes_access_key_id_unique` ON `nodes` (`access_key_id`);--> statement-breakpoint
CREATE INDEX `nodes_status_idx` ON `nodes` (`status`);--> statement-breakpoint
CREATE TABLE `operators` (
	`address` text PRIMARY KEY NOT NULL,
	`name` text DEFAULT '' NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `registration_nonces` (
	`nonce` text PRIMARY KEY NOT NULL,
	`operator_address` text NOT NULL,
	`expires_at` integer NOT NULL
);
