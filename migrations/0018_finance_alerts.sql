CREATE TABLE `finance_alerts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`period_id` text NOT NULL,
	`step` text NOT NULL,
	`kind` text NOT NULL,
	`reason` text NOT NULL,
	`message` text NOT NULL,
	`raised_at` integer NOT NULL,
	`last_seen_at` integer NOT NULL,
	`resolved_at` integer,
	`occurrences` integer DEFAULT 1 NOT NULL,
	CONSTRAINT "finance_alerts_kind" CHECK("finance_alerts"."kind" IN ('deferred', 'failed'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `finance_alerts_open_idx` ON `finance_alerts` (`period_id`,`step`,`kind`,`reason`) WHERE "finance_alerts"."resolved_at" IS NULL;--> statement-breakpoint
CREATE INDEX `finance_alerts_step_idx` ON `finance_alerts` (`period_id`,`step`);