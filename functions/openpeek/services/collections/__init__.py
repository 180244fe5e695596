"""Collections and the documents they hold (the SDK's CollectionsApi, CollectionDocumentsApi and DocumentsApi)."""
