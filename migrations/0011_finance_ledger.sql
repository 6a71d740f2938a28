CREATE TABLE `ledger_entries` (
	`key` text PRIMARY KEY NOT NULL,
	`period_id` text NOT NULL,
	`kind` text NOT NULL,
	`memo` text DEFAULT '' NOT NULL,
	`occurred_at` integer NOT NULL,
	`digest` text NOT NULL,
	`posted_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `ledger_entries_period_idx` ON `ledger_entries` (`period_id`,`occurred_at`);--> statement-breakpoint
CREATE TABLE `ledger_lines` (
	`entry_key` text NOT NULL,
	`line_no` integer NOT NULL,
	`account` text NOT NULL,
	`subaccount` text DEFAULT '' NOT NULL,
	`currency` text NOT NULL,
	`side` text NOT NULL,
	`amount` text NOT NULL,
	`period_id` text NOT NULL,
	PRIMARY KEY(`entry_key`, `line_no`),
	FOREIGN KEY (`entry_key`) REFERENCES `ledger_entries`(`key`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `ledger_lines_period_idx` ON `ledger_lines` (`period_id`,`currency`);--> statement-breakpoint
CREATE INDEX `ledger_lines_account_idx` ON `ledger_lines` (`account`,`subaccount`,`currency`);--> statement-breakpoint
CREATE TABLE `payment_events` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`payment_id` text NOT NULL,
	`account_id` text NOT NULL,
	`currency` text NOT NULL,
	`amount_minor` text NOT NULL,
	`entry_key` text NOT NULL,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `payments` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`currency` text NOT NULL,
	`amount_minor` text NOT NULL,
	`refunded_minor` text DEFAULT '0' NOT NULL,
	`source` text NOT NULL,
	`source_ref` text NOT NULL,
	`entry_key` text NOT NULL,
	`received_at` integer NOT NULL,
	CONSTRAINT "payments_refund_within_amount" CHECK(CAST("payments"."refunded_minor" AS INTEGER) >= 0 AND CAST("payments"."refunded_minor" AS INTEGER) <= CAST("payments"."amount_minor" AS INTEGER))
);
--> statement-breakpoint
CREATE INDEX `payments_account_idx` ON `payments` (`account_id`,`received_at`);--> statement-breakpoint
CREATE TABLE `price_sheets` (
	`version` integer PRIMARY KEY NOT NULL,
	`currency` text NOT NULL,
	`effective_from` integer NOT NULL,
	`storage_per_tb_month` text NOT NULL,
	`egress_per_tb` text NOT NULL,
	`class_a_per_million` text NOT NULL,
	`class_b_per_million` text NOT NULL,
	`created_at` integer NOT NULL
);
