// demo shop script
