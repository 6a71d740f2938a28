CREATE TABLE `settlement_periods` (
	`id` text PRIMARY KEY NOT NULL,
	`state` text NOT NULL,
	`starts_at` integer NOT NULL,
	`ends_at` integer NOT NULL,
	`closed_at` integer,
	`currency` text,
	`revenue_minor` text DEFAULT '0' NOT NULL,
	`invoices` integer DEFAULT 0 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `settlement_steps` (
	`period_id` text NOT NULL,
	`step` text NOT NULL,
	`state` text NOT NULL,
	`result` text,
	`error` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`period_id`, `step`)
);
